ARG BASE=alpine:3.19
FROM ${BASE} AS a
RUN echo one \
    two

FROM \
  debian:12 AS b
# a comment
COPY --from=nginx:1.25 \
  /a /b
