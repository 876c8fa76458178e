# One image for every role; docker-compose.yml and the Procfile pick the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

WORKDIR /app

# Requirements first: the dependency layer is rebuilt only when they change.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Static files are baked into the image and served by WhiteNoise. Production
# settings refuse to load without these variables; the values here exist only
# for this build step and never reach a running container.
RUN SECRET_KEY=collectstatic-only-not-a-secret ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --noinput --verbosity 0

RUN useradd --create-home --uid 10001 scoreboard
USER scoreboard

EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "scoreboard.asgi:application"]
