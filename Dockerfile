# The Accord control plane image used by deploy/. Build: docker build -t accord:0.1.0 .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
COPY ui ./ui
COPY protos ./protos
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/package.json ./
COPY protos ./protos
COPY ui/static ./ui/static
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/accord && chmod +x /app/dist/src/cli/main.js \
 && mkdir -p /var/lib/accord && chown 1000:1000 /var/lib/accord && chmod 0700 /var/lib/accord
# The data dir (dev CA, generated operator token) belongs to the runtime user; a volume mounted
# there starts with that ownership. The user is numeric so Kubernetes can verify runAsNonRoot.
ENV ACCORD_DATA_DIR=/var/lib/accord
USER 1000:1000
EXPOSE 18000 18080
ENTRYPOINT []
CMD ["accord", "serve"]
