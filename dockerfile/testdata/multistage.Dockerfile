# syntax=docker/dockerfile:1.7
# A multi-stage build with most of what a Dockerfile can hold.

ARG GO_VERSION=1.22
ARG BASE="registry.example.com/team/base:1.4"   
ARG DISTRO

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS Build
WORKDIR /src
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=bind,from=busybox:1.36,source=/bin/busybox,target=/bb \
    go build -o /out/app ./cmd/app

from   alpine:3.19   as   certs
run apk add --no-cache ca-certificates

FROM \
    # the runtime image
    ${BASE} \
    AS runtime
COPY --from=build /out/app /usr/local/bin/app
COPY --from=CERTS /etc/ssl/certs /etc/ssl/certs
COPY --link --chown=0:0 \
	--from=nginx:1.25-alpine \
	/etc/nginx/nginx.conf /etc/nginx/
RUN <<EOF
set -e
# FROM inside a heredoc is not an instruction:
echo "FROM ubuntu:20.04" > /note
EOF
COPY --from=0 /out/app /app2

FROM debian:${DISTRO} AS maybe
FROM ubuntu:22.04@sha256:18ca2e1e0e6d0f8e8c2a8e4d2d0c4bcfc1f7b0c1b0b5b5b5b5b5b5b5b5b5b5b5 AS pinned
FROM gcr.io/distroless/static@sha256:1111111111111111111111111111111111111111111111111111111111111111
FROM scratch
COPY --from=runtime / /
