# syntax=docker/dockerfile:1
# The product's image, one target per role (docker compose builds both):
#   docker build --target worker  -t nexudus-kisi-access-worker .
#   docker build --target ingress -t nexudus-kisi-access-ingress .
# Node pinned to the version the project is tested on (README: Measured times).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- build: all dependencies, the compiled dist/, and better-sqlite3's native addon ----------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 has no prebuilt binary we may download: node-gyp compiles it (needs these).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
RUN npm run build

# ---- runtime: production dependencies only, no compilers, not root ---------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    DATA_DIR=/data \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: nothing can compile here; the one native addon built from source comes from
# the build stage (same lock file, same base image, so the same ABI). Temporal's core bridge and
# @swc/core ship prebuilt per-platform binaries as ordinary packages.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/node_modules/better-sqlite3/build/Release/better_sqlite3.node ./node_modules/better-sqlite3/build/Release/better_sqlite3.node
COPY --from=build /app/dist ./dist
# `npm run grants|replay|register-search-attributes` inside the container runs dist/ through this.
COPY src/cli/run.sh ./src/cli/run.sh
# The ingress inbox lives in DATA_DIR (a volume in docker-compose.yml).
RUN mkdir -p /data && chown node:node /data
USER node

# ---- worker: polls TEMPORAL_TASK_QUEUE; Prometheus metrics on WORKER_METRICS_PORT ------------
FROM runtime AS worker
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.WORKER_METRICS_PORT||9464)+'/metrics').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node itself, not npm run worker: npm does not pass SIGHUP (reload the access map) on.
CMD ["node", "dist/src/main/worker.js"]

# ---- ingress: webhooks on PORT; /healthz (alive), /readyz (Temporal reachable) -----------------
FROM runtime AS ingress
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node itself, not npm run ingress: npm does not pass SIGHUP (reload the access map) on.
CMD ["node", "dist/src/main/ingress.js"]
