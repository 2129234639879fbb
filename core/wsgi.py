import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
django_application = get_wsgi_application()

from core.middleware import close_after_too_large, read_chunked_body  # noqa: E402 (needs the settings above)

application = close_after_too_large(read_chunked_body(django_application))
