import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
django_application = get_wsgi_application()

from core.middleware import read_chunked_body  # noqa: E402 (needs the settings configured above)

application = read_chunked_body(django_application)
