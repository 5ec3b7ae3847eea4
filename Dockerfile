# For those who build with a container engine: the same layout as `cargo xtask image` (which
# needs none): the release binary at /usr/local/bin/vm-operator with exactly the shared
# libraries it loads, an /etc/passwd naming user 65532, nothing else.
#   docker build -t vm-operator:0.1.0 .
# Keep ENTRYPOINT, CMD and USER in step with xtask/src/image.rs (a test compares them).

FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p vm-operator --bin vm-operator

# The root file system: the binary and what `ldd` says it loads, at their own paths.
FROM docker.io/library/debian:bookworm-slim AS rootfs
COPY --from=build /src/target/release/vm-operator /rootfs/usr/local/bin/vm-operator
RUN set -eu; \
    for lib in $(ldd /rootfs/usr/local/bin/vm-operator | grep -o '/[^ ]*'); do \
      mkdir -p "/rootfs$(dirname "$lib")"; cp -L "$lib" "/rootfs$lib"; \
    done; \
    mkdir -p /rootfs/etc /rootfs/tmp; \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /rootfs/etc/passwd; \
    printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group

FROM scratch
COPY --from=rootfs /rootfs/ /
USER 65532:65532
WORKDIR /
LABEL org.opencontainers.image.title="vm-operator" org.opencontainers.image.version="0.1.0"
ENTRYPOINT ["/usr/local/bin/vm-operator"]
CMD ["run"]
