# syntax=docker/dockerfile:1
#
# Gantry's container image: a static gantry binary (CGO_ENABLED=0) on
# distroless/static, running as a non-root user with its data in /data.
#
#   docker build -t gantry .
#   docker run -p 8080:8080 -v gantry-data:/data -e GANTRY_TOKENS='s3cret:admin' gantry
#
# Without GANTRY_TOKENS the server refuses to start: inside a container it
# listens on 0.0.0.0:8080, which other hosts can reach, and Gantry never
# serves such an address unauthenticated unless told so
# (GANTRY_ALLOW_UNAUTHENTICATED=true). docs/deployment.md has the details;
# .ci/dockerfile-check runs this file's build and its checks without Docker,
# and must be kept in step with it.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so that a change to the code does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# VERSION is printed by `gantry version` and logged at start; without it the
# version comes from the module's build information ("devel").
ARG VERSION=
# A static binary: no libc, and Pebble's pure-Go zstd instead of the cgo one
# (the data dir is the same either way: docs/decisions/0007-static-builds.md).
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags="-s -w -X main.buildVersion=${VERSION}" \
      -o /out/gantry ./cmd/gantry \
 && mkdir -p /out/data
# The binary must start and be static; a dynamic one would not run below.
RUN /out/gantry version && ! ldd /out/gantry

# distroless/static: CA certificates (PostgreSQL and S3 over TLS), time
# zones (cron schedules with a zone), /etc/passwd with the nonroot user
# (65532), /tmp; no shell, no package manager. HEALTHCHECK therefore runs
# the gantry binary itself (`gantry health`).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gantry /usr/local/bin/gantry
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME /data
ENV GANTRY_ADDR=0.0.0.0:8080 \
    GANTRY_DATA_DIR=/data \
    GANTRY_LOG_FORMAT=json \
    GANTRY_URL=http://127.0.0.1:8080
EXPOSE 8080
# /healthz is liveness: it fails only when the process should be restarted
# (readiness, /readyz, is for load balancers: `gantry health --ready`).
# Change GANTRY_URL with GANTRY_ADDR's port so that the probe follows.
HEALTHCHECK --interval=15s --timeout=6s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/gantry", "health", "--timeout", "5s"]
# SIGTERM drains (--drain-delay, then up to --shutdown-timeout, 30 s by
# default): give `docker stop` at least that long (docker stop -t 40,
# stop_grace_period in compose).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/gantry"]
CMD ["serve"]
