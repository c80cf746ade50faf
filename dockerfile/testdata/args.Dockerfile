ARG REGISTRY=registry.example.com
ARG APP=${REGISTRY}/app:2
ARG TOOLS='busybox:1.36' RUNTIME="ubuntu" \
    BUILDER=golang:1.22-bookworm
FROM $BUILDER AS builder
FROM ${TOOLS} AS tools
FROM "${RUNTIME}"
FROM ${APP}
COPY --from=builder /out /out
RUN --mount=from=tools,target=/t --mount=type=bind,from=localhost:5000/fixtures:v3,target=/f true
