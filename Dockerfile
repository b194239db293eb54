# syntax=docker/dockerfile:1
# The project image: one image for mlflow server, prefect server, the Prefect worker, the
# scoring endpoint (mlops serve) and the Evidently UI. All of them are dependencies of the
# project, so one locked environment serves every service and they cannot disagree on versions.

# By tag, not digest: no registry is reachable from where this was written, and a digest nobody
# resolved here is not written down. Pin it where one is: `docker buildx imagetools inspect
# python:3.11-slim` prints the index digest; then FROM python:3.11-slim@sha256:<that digest>.
FROM python:3.11-slim

# uv from its official image, pinned to the version this repository's uv.lock was made with.
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/

# git: DVC and the lineage (versioning.py) need a repository; nothing else is installed.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

# The services run as this user, never as root (uid 10001; docker-compose.yml says the same).
RUN groupadd --system --gid 10001 mlops \
    && useradd --system --uid 10001 --gid mlops --create-home --home-dir /home/mlops mlops

# Telemetry off in every library, whatever a service's own environment says (the same list as
# tasks/runtime.py's TELEMETRY_OFF). Python writes no .pyc at run time and logs unbuffered.
ENV DO_NOT_TRACK=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    DVC_NO_ANALYTICS=1 \
    GX_ANALYTICS_ENABLED=false \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH=/app/.venv/bin:$PATH

WORKDIR /app

# Everything below is installed as root and stays owned by root: the code and .venv are
# read-only to the services' user (security review #17), so a compromised service cannot rewrite
# the code every other process of this image runs. Dependencies first, from the lock only: this
# layer is rebuilt when uv.lock changes, not when the code does. --locked fails the build if
# uv.lock and pyproject.toml disagree.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project

# The code and the project's declarations (params.yaml, dvc.yaml, dvc.lock, the GE suites, the
# DVC pointer files); .dockerignore keeps out data, stores, caches and secrets.
COPY . .
RUN uv sync --locked --no-dev

# DVC and the lineage need a git repository; .git stays out of the build context (history and
# whatever it holds do not belong in an image), so the image records its own snapshot. The
# source commit is passed as a build argument and kept in the snapshot's message and a label.
# The repository is root's and the services run as mlops: git refuses a repository another user
# owns unless it is named a safe directory (system-wide, so that every service user sees it).
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.revision=$GIT_COMMIT \
      org.opencontainers.image.title="mlops-platform"
RUN git init --quiet \
    && git add --all \
    && git -c user.name=mlops -c user.email=mlops@localhost \
        commit --quiet --message "image snapshot of $GIT_COMMIT" \
    && git config --system --add safe.directory /app

# What the services write inside /app, and nothing else, is theirs: the folders docker-compose.yml
# mounts named volumes on (created here so that a new volume starts as a copy of them, owned by
# mlops), dvc.lock (the pipeline records each stage's outputs in it, in place) and .dvc, whose
# sticky bit lets mlops add its own files (tmp/, config.local) but not replace root's config.
RUN mkdir -p data/feedback data/incoming models reports logs evidently .dvc/cache .dvc/tmp .mlops \
    && chown -R mlops:mlops data models reports logs evidently .dvc/cache .dvc/tmp .mlops dvc.lock \
    && chown root:mlops .dvc \
    && chmod 1775 .dvc

USER mlops

# Refuse to start when a secret the service lists in MLOPS_REQUIRED_ENV is missing or still
# the .env.example placeholder; then run the service's command.
ENTRYPOINT ["/bin/sh", "/app/docker/require-env.sh"]
CMD ["mlops", "--help"]
# No HEALTHCHECK here: each service of this image answers on a different port and path (or not
# at all), so docker-compose.yml declares one per service.
