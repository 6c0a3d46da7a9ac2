# One multi-target Dockerfile for every app: `docker build --target <app> .`, or `docker compose build`.
# Targets: ws-edge, llm-worker, stt-worker, tts-worker, tts-worker-gpu.
# Only classic-builder features are used (no RUN --mount), so the Debian docker-compose 1.29 builds it too.
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- manifests: the lockfile and every workspace's package.json, so installs are cached until one changes.
# test/compose.test.ts fails when a workspace is missing here.
FROM ${NODE_IMAGE} AS manifests
# What .npmrc's onnxruntime-node-install=skip says, in the variable onnxruntime-node's installer reads first:
# npm warns it will stop passing unknown .npmrc keys to scripts, and then every linux/x64 install would
# download the CUDA provider. The ort-cuda stage overrides it.
ENV ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY apps/ws-edge/package.json apps/ws-edge/
COPY apps/llm-worker/package.json apps/llm-worker/
COPY apps/stt-worker/package.json apps/stt-worker/
COPY apps/tts-worker/package.json apps/tts-worker/
COPY apps/web/package.json apps/web/
COPY libs/contracts/package.json libs/contracts/
COPY libs/audio/package.json libs/audio/
COPY libs/runtime/package.json libs/runtime/
COPY libs/store/package.json libs/store/
COPY libs/testkit/package.json libs/testkit/

# ---- build: dev dependencies + nx builds every project (the TypeScript apps/libs and apps/web's Vite bundle).
FROM manifests AS build
ENV NX_DAEMON=false NX_NO_CLOUD=true
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
# What the runtime images take from the build: each workspace's package.json (its node_modules/@chorus link
# resolves through it) and its output, without sources and tests.
RUN set -eu; for ws in apps/* libs/*; do \
      mkdir -p "/built/$ws"; cp "$ws/package.json" "/built/$ws/"; \
      for d in dist public; do if [ -d "$ws/$d" ]; then cp -r "$ws/$d" "/built/$ws/"; fi; done; \
      rm -f "/built/$ws/dist/.tsbuildinfo"; \
    done

# ---- prod-deps: one pruned node_modules per app (`npm ci --omit=dev -w`): the edge gets no onnxruntime, the
# workers no PGlite. Cached until a manifest changes. The CUDA provider stays out (the GPU target adds it).
# onnxruntime-node ships binaries for every OS/arch (~250 MB never loaded): keep linux/<this arch>.
# @ricky0123/vad-web is only read for its silero_vad_v5.onnx file, so its browser runtime (onnxruntime-web,
# ~140 MB) goes too.
FROM manifests AS prod-deps
RUN set -eu; arch="$(node -p process.arch)"; \
    for app in ws-edge llm-worker stt-worker tts-worker; do \
      out="/deps/$app"; mkdir -p "$out"; cp -r package.json package-lock.json .npmrc apps libs "$out/"; \
      (cd "$out" && npm ci --omit=dev --no-audit --no-fund --workspace="@chorus/$app"); \
      ort="$out/node_modules/onnxruntime-node/bin/napi-v6"; \
      if [ -d "$ort" ]; then find "$ort" -mindepth 2 -maxdepth 2 -type d ! -path "$ort/linux/$arch" -exec rm -rf {} +; fi; \
      rm -rf "$out/node_modules/onnxruntime-web"; \
    done; \
    npm cache clean --force

# ---- bundles: /deps/<app> becomes the whole /app of its image: node_modules plus the build output of exactly
# the workspaces it links in node_modules/@chorus (itself included); other workspaces' folders are dropped.
# The edge also gets apps/web/dist, where static.ts looks for it (../../web/dist from its dist/).
FROM prod-deps AS bundles
COPY --from=build /built /built
RUN set -eu; for app in ws-edge llm-worker stt-worker tts-worker; do \
      out="/deps/$app"; linked=""; \
      for link in "$out"/node_modules/@chorus/*; do \
        ws="$(readlink "$link")"; ws="${ws#../../}"; linked="$linked $ws"; cp -r "/built/$ws/." "$out/$ws/"; \
      done; \
      for ws in "$out"/apps/* "$out"/libs/*; do \
        case " $linked " in *" ${ws#$out/} "*) ;; *) rm -rf "$ws" ;; esac; \
      done; \
    done; \
    mkdir -p /deps/ws-edge/apps/web; cp -r /built/apps/web/dist /deps/ws-edge/apps/web/dist

# ---- base of every runtime image.
FROM ${NODE_IMAGE} AS base
# tini as PID 1: forwards SIGTERM to node (which stops gracefully) and reaps orphans such as the stt-worker's
# pocketsphinx pipelines; plain node as PID 1 would leave zombies.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
ENTRYPOINT ["/usr/bin/tini", "--"]
# Every app stops gracefully on SIGTERM (stop reading, hand back in-flight work, exit 0) within 15 s.
STOPSIGNAL SIGTERM

# ---- ws-edge: HTTP + WebSocket on 8080, serves apps/web/dist at /.
FROM base AS ws-edge
COPY --from=bundles /deps/ws-edge /app
# DATA_DIR (./data) holds PGlite when DATABASE_URL is unset (docker run without compose); code stays root-owned.
RUN install -d -o node -g node /app/data
USER node
EXPOSE 8080
# /readyz: Redis, the database and a live worker of every REQUIRED_STAGES stage. node's fetch: no curl needed.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "apps/ws-edge/dist/main.js"]

# ---- llm-worker (no HTTP port unless METRICS_PORT is set, so no HEALTHCHECK: /readyz counts its heartbeats).
FROM base AS llm-worker
COPY --from=bundles /deps/llm-worker /app
USER node
CMD ["node", "apps/llm-worker/dist/main.js"]

# ---- stt-worker: the embedded engine runs Debian's pocketsphinx_continuous (stdbuf is in coreutils).
FROM base AS stt-worker
RUN apt-get update && apt-get install -y --no-install-recommends pocketsphinx pocketsphinx-en-us \
  && rm -rf /var/lib/apt/lists/*
COPY --from=bundles /deps/stt-worker /app
USER node
CMD ["node", "apps/stt-worker/dist/main.js"]

# ---- tts-worker (CPU): flite is WebAssembly; the onnx engine uses onnxruntime-node's bundled CPU build.
FROM base AS tts-worker
COPY --from=bundles /deps/tts-worker /app
USER node
CMD ["node", "apps/tts-worker/dist/main.js"]

# ---- ort-cuda: onnxruntime-node's own installer fetches its CUDA 12 provider libraries (NuGet
# Microsoft.ML.OnnxRuntime.Gpu.Linux, linux/x64 only) when ONNXRUNTIME_NODE_INSTALL says cuda12.
# Its own stage so the download is cached with the dependencies, not redone on every source change.
FROM prod-deps AS ort-cuda
RUN cd /deps/tts-worker/node_modules/onnxruntime-node && ONNXRUNTIME_NODE_INSTALL=cuda12 node script/install.js \
  && test -f bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

# ---- tts-worker-gpu: the tts-worker + that CUDA provider + the CUDA 12 / cuDNN 9 runtime libraries it loads,
# from NVIDIA's Debian 12 repository. ORT built with CUDA 12.x works with any 12.x (minor version
# compatibility); the driver and libcuda.so.1 come from the host through the NVIDIA Container Toolkit.
# nvrtc: cuDNN 9's runtime-compiled engines. The libraries land in /usr/local/cuda-12.x/targets/*/lib, which
# is added to the loader's path explicitly.
FROM base AS tts-worker-gpu
ARG CUDA_PKG_VERSION=12-8
ADD https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb /tmp/cuda-keyring.deb
RUN set -eu; dpkg -i /tmp/cuda-keyring.deb; rm /tmp/cuda-keyring.deb; apt-get update; \
    apt-get install -y --no-install-recommends \
      cuda-cudart-${CUDA_PKG_VERSION} libcublas-${CUDA_PKG_VERSION} libcufft-${CUDA_PKG_VERSION} \
      libcurand-${CUDA_PKG_VERSION} cuda-nvrtc-${CUDA_PKG_VERSION} libcudnn9-cuda-12; \
    rm -rf /var/lib/apt/lists/*; \
    ls -d /usr/local/cuda-12*/targets/*/lib > /etc/ld.so.conf.d/zz-chorus-cuda.conf; ldconfig
# Read by the NVIDIA Container Toolkit: which driver libraries to mount.
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=bundles /deps/tts-worker /app
COPY --from=ort-cuda /deps/tts-worker/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/ /app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/
# Fail the build, not the first GPU synthesis, when a library the provider links is missing (libcuda.so.1 is
# the driver's, mounted at run time).
RUN set -eu; dir=node_modules/onnxruntime-node/bin/napi-v6/linux/x64; \
    missing="$(LD_LIBRARY_PATH="$dir" ldd "$dir/libonnxruntime_providers_cuda.so" | grep 'not found' | grep -v 'libcuda\.so' || true)"; \
    if [ -n "$missing" ]; then echo "CUDA provider cannot load: $missing" >&2; exit 1; fi
USER node
CMD ["node", "apps/tts-worker/dist/main.js"]
