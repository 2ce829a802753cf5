# commentwarden: the Discord bot in a container. Build: `docker build -t commentwarden .` (or podman).
# The database, the heartbeat and every model cache live on the /data volume; the bot runs as a non-root user.
# BASE can name any Debian-based image with Python 3.11+ and its venv module (deploy/build-image.sh bootstraps
# one from Debian packages where no registry is reachable).
ARG BASE=python:3.11-slim
FROM ${BASE}

# CPU PyTorch comes first and from PyTorch's CPU index: the default torch wheel pulls gigabytes of CUDA.
# Override PIP_EXTRA_INDEX_URL to build from a local mirror instead (see deploy/build-image.sh).
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1

# The +cpu label pins the CPU build: a mirror or index holding both cannot hand out the CUDA one.
# (pip first: older pips mis-resolve a local version label such as +cpu against a constraint.)
RUN python3 -m venv /opt/commentwarden \
    && /opt/commentwarden/bin/pip install --upgrade pip \
    && /opt/commentwarden/bin/pip install torch==2.13.0+cpu
COPY pyproject.toml README.md /src/
COPY bot /src/bot
COPY cogs /src/cogs
# EXTRAS="[postgres]" adds psycopg and redis for several processes on PostgreSQL (compose.scale.yaml).
ARG EXTRAS=""
RUN /opt/commentwarden/bin/pip install "/src${EXTRAS}" && rm -rf /src

RUN useradd --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin commentwarden \
    && mkdir -p /data && chown commentwarden:commentwarden /data
ENV PATH=/opt/commentwarden/bin:$PATH \
    DATABASE_PATH=/data/commentwarden.db \
    DEMO_MODEL_DIR=/data/demo-model \
    HF_HOME=/data/cache/huggingface \
    TORCH_HOME=/data/cache/torch \
    XDG_CACHE_HOME=/data/cache \
    MPLCONFIGDIR=/data/cache/matplotlib
VOLUME ["/data"]
WORKDIR /data
USER commentwarden

# Healthy = the bot refreshed its heartbeat file in the last 90 s, which it does only while connected to
# Discord. The start period covers the first model download/load.
HEALTHCHECK --interval=60s --timeout=10s --start-period=300s --retries=3 CMD ["commentwarden", "health"]
# docker stop / podman stop send SIGTERM: the bot shuts down gracefully and exits 0 (allow it 30 s).
STOPSIGNAL SIGTERM
CMD ["commentwarden", "run"]
