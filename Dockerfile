FROM python:3.11-slim
WORKDIR /app
# gcc and the C library headers compile the rules core (pipeline/native.py), then leave the image.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md ./
COPY pipeline ./pipeline
RUN pip install --no-cache-dir -e '.[native]' \
    && MODERATION_NATIVE=1 python setup.py --quiet build_ext --inplace --force \
    && python -c 'import pipeline.native as n; assert n.core_mode() == "compiled"' \
    && rm -rf build && apt-get purge -y gcc libc6-dev && apt-get autoremove -y
COPY config ./config
COPY models ./models
ENV MODERATION_CONFIG_DIR=/app/config
CMD ["moderation", "worker"]
