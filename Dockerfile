# syntax=docker/dockerfile:1
# Multi-stage: build with the dev toolchain, run with production dependencies only, as non-root.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles its native addon when no prebuilt binary can be fetched.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc tsconfig.json ./
COPY scripts ./scripts
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY src ./src
COPY dicom-dictionary ./dicom-dictionary
COPY fixtures ./fixtures
COPY test ./test
COPY bench ./bench
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# Each CPU step runs in a fresh worker thread; with glibc's default of one malloc arena per thread
# the freed memory stays in the arenas and RSS creeps up job after job (README "Memory";
# bench/job-memory.ts: 570 -> 946 MB over 12 jobs, flat at 649 MB with 2 arenas, same CPU).
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
RUN groupadd --system dicom && useradd --system --gid dicom --home-dir /app dicom \
    && mkdir -p /app/data && chown dicom:dicom /app/data
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/dicom-dictionary ./dist/dicom-dictionary
COPY config ./config
COPY dicom-dictionary ./dicom-dictionary
COPY models ./models
USER dicom
# Received instances and the SQLite index. Mount your own config over /app/config/default.json
# (the default one only admits callers on the container's loopback).
VOLUME ["/app/data"]
# DICOM (and DICOM TLS when node.tls is configured). The admin/metrics endpoint listens on the
# container's loopback (admin.host 127.0.0.1): set admin.host to 0.0.0.0 and publish 8080 to
# scrape it from outside.
EXPOSE 11112 2762
# /healthz of the admin endpoint: the process is up and serving (readiness is /readyz).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD node -e "require('http').get('http://127.0.0.1:8080/healthz',(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/cli/main.js", "serve", "--config", "config/default.json"]
