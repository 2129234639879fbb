# OneTable production image: gunicorn (web), Celery worker and beat share it.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN useradd --create-home --uid 1000 onetable
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# collectstatic needs settings: give it throw-away values (real ones come from the environment at run time).
RUN SECRET_KEY=build DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput -v 0
# the audit seal file's folder and the shared files' folder, owned by the app user (a new volume mounted there
# takes its owner)
RUN mkdir -p /app/var/audit && chown onetable /app/var/audit
RUN mkdir -p /app/var/files && chown onetable /app/var/files
USER onetable
EXPOSE 8000
CMD ["gunicorn", "core.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4"]
