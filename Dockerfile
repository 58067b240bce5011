# The dashboard as a container. Demo data when no key is given; with a key:
#   docker run -p 8501:8501 -v clari-data:/data -e CLARI_API_KEY=... \
#     -v $PWD/clari.toml:/app/clari.toml:ro clari-dashboard
# The same image runs the scaled-out stack (docker-compose.yml): the refresh worker is this image
# with the command `python -m clari_data worker`, each replica this image as it is, with CLARI_ROLE
# saying which role a container plays.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CLARI_DB_PATH=/data/clari.duckdb

# /srv/clari/lake: where docker-compose.yml mounts the lake's data volume; a new volume takes the
# owner of the directory it is mounted on, so the worker (not root) can write it.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
    && mkdir -p /data /app /srv/clari/lake \
    && chown app:app /data /app /srv/clari/lake

WORKDIR /app

# Dependencies in their own layer: rebuilt only when the pinned requirements change. They include
# DuckDB's DuckLake and PostgreSQL extensions as wheels: nothing is downloaded when a container runs.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# The application. Secrets, clari.toml and warehouse files are excluded by .dockerignore and
# given at run time (environment or a mounted file), never baked into the image.
COPY --chown=app:app app.py clari.example.toml ./
COPY --chown=app:app .streamlit/config.toml ./.streamlit/config.toml
COPY --chown=app:app clari_data ./clari_data
COPY --chown=app:app ui ./ui
COPY --chown=app:app views ./views

USER app
VOLUME ["/data"]
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() == b'ok' else 1)"]

CMD ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0", "--server.headless=true", "--server.fileWatcherType=none"]
