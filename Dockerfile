# resnet-serve as a container image: the HTTP server on 0.0.0.0:$PORT (8080), as a non-root user, every
# setting from its environment variable (RESNET_SERVE_*, see docs/limits.md), the caches in
# $RESNET_SERVE_HOME, so the root file system can be read-only.
#
#   docker build -t resnet-serve .
#   docker build --network host -t resnet-serve .      # where only the host's own network reaches the npm registry
#   scripts/build-base-image.sh                        # first, where node:24-bookworm-slim cannot be pulled
#   docker build --build-arg WEIGHTS_URL=https://download.pytorch.org/models/resnet18-f37072fd.pth -t resnet-serve:baked .
#
# The build needs the npm registry (`npm ci`); where it cannot reach it, it stops within a minute and says so.
# With WEIGHTS_URL the checkpoint is downloaded, checked and converted to ONNX while building, so a start does
# no conversion; without it, mount the weights (-v DIR:/models:ro -e RESNET_SERVE_WEIGHTS=/models/FILE) or let
# the first start download them into $RESNET_SERVE_HOME.

# ---- install: every dependency, from the lock file, in the one step that needs the network
FROM node:24-bookworm-slim AS install
WORKDIR /src
# Where the build's network reached no registry, `npm ci` sat for ten minutes without a word: npm waits 5 minutes
# for an answer, has no connect timeout (the OS gives up after ~2 minutes) and retries twice, 10 to 60 s apart.
# scripts/check-npm-registry.sh now stops such a build within a minute, saying why; past it, a request waits 30 s
# for an answer or 30 s of silence (a tarball that keeps arriving is not cut) and is retried twice, 2-10 s apart;
# npm's update check, one more request to the registry, is off.
# package.json's allowScripts refuses ONNX Runtime's install script (a CUDA download); ONNXRUNTIME_NODE_INSTALL,
# which that script reads itself, refuses it too where the base image's npm predates allowScripts.
ENV npm_config_fetch_timeout=30000 \
    npm_config_fetch_retries=2 \
    npm_config_fetch_retry_mintimeout=2000 \
    npm_config_fetch_retry_maxtimeout=10000 \
    npm_config_update_notifier=false \
    ONNXRUNTIME_NODE_INSTALL=skip
COPY scripts/check-npm-registry.sh scripts/
COPY package.json package-lock.json ./
# The registry first, in the same step as `npm ci`, so that a cached check never stands in for a fresh install.
RUN scripts/check-npm-registry.sh 30 \
 && npm ci --no-audit --no-fund \
 && rm -rf /root/.npm

# ---- build: compile the TypeScript and the page (dev dependencies stay in this stage)
FROM install AS build
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build-web.mjs scripts/build-wasm.mjs scripts/
COPY src/ src/
RUN npm run build && find dist -name '*.d.ts' -delete -o -name '*.map' -delete

# ---- deps: production dependencies only, pruned from the same install (no second trip to the registry)
FROM install AS deps
# onnxruntime-node ships its native library for every platform (~290 MB); only this one's is ever loaded.
RUN npm prune --omit=dev --no-audit --no-fund \
 && find node_modules/onnxruntime-node/bin -mindepth 2 -maxdepth 3 -type d \
      ! -path "*/$(node -p process.platform)" ! -path "*/$(node -p process.platform)/$(node -p process.arch)" \
      -exec rm -rf {} + \
 # onnxruntime-web (~140 MB) serves the page's on-device mode three files (src/server/on-device.ts); its main
 # entry stays for require.resolve to find them.
 && find node_modules/onnxruntime-web/dist -type f ! -name ort.node.min.js ! -name ort.wasm.min.mjs \
      ! -name ort-wasm-simd-threaded.mjs ! -name ort-wasm-simd-threaded.wasm -delete \
 && rm -rf node_modules/onnxruntime-web/lib node_modules/onnxruntime-web/docs /root/.npm

# ---- weights: optionally baked in, converted once here rather than at every first start
FROM deps AS weights
ARG WEIGHTS_URL=
COPY --from=build /src/dist dist
RUN mkdir -p /opt/resnet-serve \
 && if [ -n "$WEIGHTS_URL" ]; then \
      RESNET_SERVE_HOME=/tmp/weights node dist/cli.js fetch --weights-url "$WEIGHTS_URL" \
      && node dist/cli.js convert --out /opt/resnet-serve/resnet18.onnx --weights \
           "$(find /tmp/weights -maxdepth 1 -type f \( -name '*.pth' -o -name '*.safetensors' \))" \
      && rm -rf /tmp/weights; \
    fi

# ---- runtime
FROM node:24-bookworm-slim
ARG WEIGHTS_URL=
WORKDIR /app
# Root-owned and read-only to the server's user: only $RESNET_SERVE_HOME is written.
COPY package.json ./
COPY --from=deps /src/node_modules node_modules
COPY --from=build /src/dist dist
# The Open Inference Protocol's gRPC service definition, read at start when RESNET_SERVE_GRPC_PORT is set.
COPY proto/ proto/
COPY --from=weights /opt/resnet-serve /opt/resnet-serve
RUN mkdir -p /var/cache/resnet-serve && chown 1000:1000 /var/cache/resnet-serve
ENV NODE_ENV=production \
    # glibc gives each decoding thread its own malloc arena otherwise: 25-40 MB more peak RSS (docs/limits.md).
    MALLOC_ARENA_MAX=2 \
    PORT=8080 \
    RESNET_SERVE_HOST=0.0.0.0 \
    RESNET_SERVE_HOME=/var/cache/resnet-serve \
    RESNET_SERVE_MODEL=${WEIGHTS_URL:+/opt/resnet-serve/resnet18.onnx}
# Downloaded weights, converted and compiled models: keep this on disk (a volume, an emptyDir), not in a
# tmpfs, whose pages count against the container's memory limit.
VOLUME /var/cache/resnet-serve
# The official image's `node` user, numerically, so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8080
# bash's /dev/tcp instead of a second Node process (~40 MB) inside the memory limit every 30 s. The start
# period covers a first start that converts a mounted checkpoint before it listens.
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PORT:-8080} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r status <&3 && [[ $status == *' 200 '* ]]"]
# Node itself is PID 1 (no shell in between), so SIGTERM reaches the server's handler: stop accepting, answer
# the requests in flight, exit 0. --max-semi-space-size=2 as in dist/cli.js's #! line (docs/limits.md);
# --max-old-space-size=256: V8's heap limit, under deploy/'s 384 MiB memory limit beside the decode budget and
# the model (src/server/options.ts, PROCESS_OPTIONS); `--heap-limit` / RESNET_SERVE_HEAP_LIMIT change it.
ENTRYPOINT ["node", "--max-semi-space-size=2", "--max-old-space-size=256", "dist/cli.js"]
CMD ["serve"]
