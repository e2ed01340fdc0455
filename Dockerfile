# The sia-agent image. With Docker (BuildKit) or Podman, from the
# repository:
#
#   docker build -t sia-agent --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) .
#
# It is the image `make image` assembles without a container engine
# (tools/release/image.go), file for file: sia-agent and the k8s-secret
# provider's plugin binary, the production
# pipeline as a default, CA certificates, a passwd and group naming
# nobody, and /tmp for the agent's runtime directory; no shell. The
# release tests check that the two agree.

# The build stage runs on the builder's platform and cross-compiles: the
# binary is static (CGO_ENABLED=0) and reproducible.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG SOURCE_DATE_EPOCH=0
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN make bin/release/${TARGETOS}_${TARGETARCH}/sia-agent bin/release/${TARGETOS}_${TARGETARCH}/sia-plugin-k8s-secret \
      VERSION=${VERSION} COMMIT=${COMMIT}
RUN install -D -m 0755 bin/release/${TARGETOS}_${TARGETARCH}/sia-agent /rootfs/usr/bin/sia-agent && \
    install -D -m 0755 bin/release/${TARGETOS}_${TARGETARCH}/sia-plugin-k8s-secret /rootfs/usr/bin/sia-plugin-k8s-secret && \
    install -D -m 0644 configs/production.yaml /rootfs/etc/sia-agent/pipeline.yaml && \
    install -D -m 0644 packaging/image/passwd /rootfs/etc/passwd && \
    install -D -m 0644 packaging/image/group /rootfs/etc/group && \
    install -D -m 0644 /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt && \
    install -d -m 1777 /rootfs/tmp

FROM scratch
ARG VERSION=dev
ARG COMMIT=unknown
COPY --from=build /rootfs/ /
LABEL org.opencontainers.image.title="sia-agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/sia-agent/sia-agent"
ENV PATH=/usr/bin
WORKDIR /
USER 65534:65534
ENTRYPOINT ["/usr/bin/sia-agent"]
CMD ["run", "--config", "/etc/sia-agent/pipeline.yaml"]
