# agribot: the Telegram bot on CPU. Build:  docker build -t agribot .
# Run:  docker run -e AGRIBOT_TELEGRAM_TOKEN=... -e AGRIBOT_ADMIN_IDS=... -v agribot-data:/data agribot
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    AGRIBOT_DATA_DIR=/data \
    HF_HUB_OFFLINE=1

WORKDIR /app

# The CPU build of torch first, so the dependency resolver never pulls a CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY migrations ./migrations
COPY knowledge ./knowledge
# models/ and media/ exist in the image so that volumes mounted there (docker-compose.yml
# shares them between replicas) start out owned by agribot, not root.
# Editable, so the package finds migrations/ and knowledge/ beside it, as in a checkout.
RUN pip install -e . \
    && useradd --create-home --uid 1000 agribot \
    && mkdir -p /data/models /data/media && chown -R agribot /data

USER agribot
VOLUME ["/data"]
# Webhook mode listens here (AGRIBOT_WEBHOOK_URL, AGRIBOT_WEBHOOK_SECRET, AGRIBOT_LISTEN_HOST=0.0.0.0).
EXPOSE 8443

# The first start converts the bundled model into /data/models and indexes the bank.
CMD ["agribot", "serve"]
