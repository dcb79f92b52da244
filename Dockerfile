# zsa images, built from this repository (docker compose builds them; see docs/OPERATIONS.md).
#   target "zsa"        Debian 12 slim: zsa-gateway, zsa-scheduler, zsa-worker (CPU), zsa, tools
#   target "worker-gpu" CUDA runtime base: zsa-worker built with nvcc (CUDA_VERSION below)
# The binaries link Debian's libraries; the CUDA runtime is linked statically, so the GPU image
# needs the host's NVIDIA driver (nvidia-container-toolkit) and nothing else.

ARG DEBIAN=debian:12
ARG CUDA_VERSION=12.4.1

# ---- build (Debian 12): everything, CPU only ------------------------------------------------
FROM ${DEBIAN} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config git ca-certificates \
      libhiredis-dev libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libevent-dev \
      libmsgpack-dev libjson-c-dev libtiff-dev libpng-dev libssl-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# "build" skips the dependency check (the packages above are what it would install)
RUN make build CUDA=0 VERSION=container -j"$(nproc)"

# ---- runtime (Debian 12 slim) ---------------------------------------------------------------
FROM ${DEBIAN}-slim AS zsa
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libhiredis0.14 libwebsockets17 libwebsockets-evlib-uv libuv1 libevent-2.1-7 \
      libmsgpackc2 libjson-c5 libtiff6 libpng16-16 libssl3 zlib1g curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data zsa \
    && mkdir -p /data && chown zsa /data
COPY --from=build /src/build/bin/ /usr/local/bin/
USER zsa
WORKDIR /data
ENV ZSA_DATA_DIR=/data
EXPOSE 8080 9100
CMD ["zsa-gateway", "--listen", "0.0.0.0:8080"]

# ---- the GPU worker: built and run on NVIDIA's CUDA images (Ubuntu based) --------------------
FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu22.04 AS build-gpu
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config libhiredis-dev libevent-dev libuv1-dev libmsgpack-dev libjson-c-dev \
      libtiff-dev libpng-dev libssl-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make build/bin/zsa-worker CUDA=1 CUDA_HOME=/usr/local/cuda VERSION=container -j"$(nproc)"

FROM nvidia/cuda:${CUDA_VERSION}-base-ubuntu22.04 AS worker-gpu
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libhiredis0.14 libevent-2.1-7 libmsgpackc2 libjson-c5 libtiff5 libpng16-16 libssl3 zlib1g curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data zsa \
    && mkdir -p /data && chown zsa /data
COPY --from=build-gpu /src/build/bin/zsa-worker /usr/local/bin/
USER zsa
WORKDIR /data
ENV ZSA_DATA_DIR=/data NVIDIA_DRIVER_CAPABILITIES=compute,utility
EXPOSE 9100
CMD ["zsa-worker"]
