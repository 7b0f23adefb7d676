# Targets: `bot` (no torch) and `worker`. The worker's torch is the CUDA build from PyPI, or
# with `--build-arg TORCH_BUILD=cpu` the CPU build from the PyTorch CPU index (no CUDA
# download); docker-compose.cpu.yml sets that. Dependencies install from the hashed locks in
# requirements/ (regenerate them with scripts/lock.sh), never from unpinned ranges. No
# `# syntax=` line: it would fetch a frontend image from Docker Hub on every build, and
# nothing here needs more than the builder's own.
ARG TORCH_BUILD=cuda

FROM python:3.11-slim AS base
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The runtime user, with a fixed uid/gid so files on volumes keep their owner across rebuilds.
ARG APP_UID=10001
RUN groupadd --system --gid "${APP_UID}" app \
    && useradd --system --uid "${APP_UID}" --gid app --create-home --home-dir /home/app \
       --shell /usr/sbin/nologin app
ENV HOME=/home/app
WORKDIR /app

FROM base AS bot
COPY requirements/bot.lock requirements/
RUN pip install --require-hashes --no-deps -r requirements/bot.lock && pip check
# The code runs from /app (`python -m bot`), read-only to the runtime user; the bot writes only
# its compiled language catalogs, under /tmp.
COPY common ./common
COPY bot ./bot
USER app
EXPOSE 9810
HEALTHCHECK --interval=30s --timeout=10s --start-period=1m --retries=3 \
    CMD ["python", "-m", "common.healthcheck", "bot"]
CMD ["python", "-m", "bot"]

FROM base AS worker-deps-cuda
COPY requirements/worker.lock requirements/
RUN pip install --require-hashes --no-deps -r requirements/worker.lock && pip check

FROM base AS worker-deps-cpu
COPY requirements/torch.txt requirements/worker-cpu.lock requirements/
# torch alone from the CPU index (a mirror of it behind a proxy or offline:
# `--build-arg TORCH_INDEX_URL=...`), at the version of requirements/torch.txt; everything
# else, torch's own dependencies included, from the hashed lock.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --no-deps -r requirements/torch.txt \
        --index-url "${TORCH_INDEX_URL}" \
    && pip install --require-hashes --no-deps -r requirements/worker-cpu.lock && pip check

FROM worker-deps-${TORCH_BUILD} AS worker
COPY common ./common
COPY worker ./worker
# Weights download into HF_HOME. It exists in the image, owned by the runtime user, so the
# `hf-cache` volume mounted there starts with that owner (Docker would create a missing
# mount point root-owned, and the first download would fail).
ENV HF_HOME=/hf-cache
RUN mkdir -p "${HF_HOME}" && chown app:app "${HF_HOME}"
USER app
EXPOSE 9811
# The first start downloads the weights (several GB): healthy only once loaded and warm.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30m --retries=3 \
    CMD ["python", "-m", "common.healthcheck", "worker"]
CMD ["python", "-m", "worker"]
