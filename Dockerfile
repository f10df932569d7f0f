FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
RUN pip install --no-cache-dir -e .
COPY config ./config
COPY models ./models
ENV MODERATION_CONFIG_DIR=/app/config
CMD ["moderation", "worker"]
