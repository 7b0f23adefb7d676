# Two targets: `bot` (no torch, small) and `worker` (CUDA torch + diffusers).
FROM python:3.11-slim AS base
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY common ./common

FROM base AS bot
COPY bot ./bot
RUN pip install ".[bot]"
USER nobody
CMD ["python", "-m", "bot"]

FROM base AS worker
COPY worker ./worker
# The default PyPI torch wheel for Linux ships with CUDA.
RUN pip install ".[worker]"
USER nobody
CMD ["python", "-m", "worker"]
