# syntax=docker/dockerfile:1
#
# classiclink-sync image: one executable, every command.
#   docker build -t classiclink-sync .
#   docker run --rm -e DATABASE_URL=... classiclink-sync migrate
#   docker run -d -e DATABASE_URL=... -e REDIS_URL=... -e HTTP_HOST=0.0.0.0 -e HTTP_TOKEN=... \
#     -p 127.0.0.1:8080:8080 classiclink-sync            # `start` is the default command
#   docker run --rm -p 127.0.0.1:9080:9080 classiclink-sync simulate --host 0.0.0.0 --port 9080
# HTTP_HOST defaults to 127.0.0.1, which is unreachable from outside the container: set it to
# 0.0.0.0 (with HTTP_TOKEN) to publish the HTTP port, as docker-compose.yml does.

ARG NODE_IMAGE=node:22-bookworm-slim

# --- build: compile TypeScript, then drop dev dependencies --------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

# Only what the compile needs, so editing tests, docs or bin/ does not redo `npm ci`.
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
# `npm ci` runs the `prepare` script, which already compiles; the explicit build keeps a
# compile error attributed to its own step.
RUN --mount=type=cache,target=/root/.npm npm ci
RUN npm run build
RUN npm prune --omit=dev

# The rest of the (allow-listed, see .dockerignore) context: bin/, migrations/ and console/ (the
# web console's templates and browser files). `mkdir -p`
# because an empty migrations/ is not tracked by git and may be absent from a fresh clone.
COPY . .
RUN mkdir -p migrations

# --- runtime -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app

# Root-owned and read-only to the `node` user the process runs as.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/console ./console

USER node
EXPOSE 8080

# /healthz of `start` (no curl in the slim image). Other commands (migrate, simulate, sync --once)
# do not serve it; compose overrides or ignores the check for them.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const t=process.env.HTTP_TOKEN;fetch(`http://127.0.0.1:${process.env.HTTP_PORT||8080}/healthz`,{headers:t?{authorization:`Bearer ${t}`}:{},signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["node", "bin/classiclink-sync.js"]
CMD ["start"]
