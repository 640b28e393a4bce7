# syntax=docker/dockerfile:1
# The Zoom token server as a container: a static binary (no cgo) on a distroless
# base that has CA certificates and a non-root user, and nothing else.
#   docker build -t tokenserver .        (or: make docker)
#   docker run -p 3000:3000 tokenserver  (sandbox mode: no Zoom credentials)
# The build line below is also run by server/docker_test.go, so the binary the
# tests start is built exactly as the image's.

ARG GO_VERSION=1.26.8
ARG NODE_VERSION=22

# The console (/console/) and the API reference (/docs/api/) embed browser
# bundles that are never committed: fetched from npm here, as examples/node's
# lockfile pins them.
FROM node:${NODE_VERSION}-bookworm-slim AS assets
WORKDIR /src/examples/node
COPY examples/node/package.json examples/node/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=assets /src/examples/node/node_modules/socket.io-client/dist/socket.io.min.js internal/web/console/assets/vendor/socket.io.min.js
# The API reference (/docs/api/) embeds Swagger UI's bundle and style sheet, from npm likewise.
COPY --from=assets /src/examples/node/node_modules/swagger-ui-dist/swagger-ui-bundle.js /src/examples/node/node_modules/swagger-ui-dist/swagger-ui.css internal/web/openapi/assets/vendor/
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w -X main.version=${VERSION}" -o /out/tokenserver ./server
# The state directory, owned by the image's non-root user (uid 65532).
RUN mkdir -p /out/state && chown 65532:65532 /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tokenserver /usr/local/bin/tokenserver
COPY --from=build --chown=65532:65532 /out/state /var/lib/tokenserver
# The relative default DATABASE_URL (sqlite:data/connections.db) lands here.
WORKDIR /var/lib/tokenserver
VOLUME /var/lib/tokenserver
USER 65532:65532
ENV PORT=3000 HOST=0.0.0.0 LOG_FORMAT=json
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=4s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/tokenserver", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tokenserver"]
