# syntax=docker/dockerfile:1.7
# One image for every component: `lms serve <component>` (Kubernetes) or `lms up` (one machine).
# Build: docker build -t lms:dev .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target directory between builds; --locked makes the build
# use exactly the committed Cargo.lock.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p lms --bin lms \
 && install -D -m 0755 target/release/lms /out/lms

# glibc and nothing else: libpq, OpenSSL and SQLite are linked into the binary.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/lms /usr/local/bin/lms
USER 65532:65532
# Inside a container every component listens on all interfaces, on its default port
# (docs/configuration.md): the five gRPC services, the gateway's HTTP edge (REST/JSON,
# /openapi.json, gRPC-Web and the portal API on one port) and the metrics endpoint.
# helm/tests/test_dockerfile.py holds these against the documented defaults and the chart.
ENV LMS__PATHWAY__LISTEN=0.0.0.0:50051 \
    LMS__ENROLMENT__LISTEN=0.0.0.0:50052 \
    LMS__ASSESSMENT__LISTEN=0.0.0.0:50053 \
    LMS__RECORDS__LISTEN=0.0.0.0:50054 \
    LMS__NOTIFICATION__LISTEN=0.0.0.0:50055 \
    LMS__GATEWAY__LISTEN=0.0.0.0:8080 \
    LMS__TELEMETRY__METRICS_LISTEN=0.0.0.0:9464 \
    LMS__TELEMETRY__LOG_FORMAT=json
EXPOSE 50051 50052 50053 50054 50055 8080 9464
HEALTHCHECK --interval=10s --timeout=5s CMD ["/usr/local/bin/lms", "probe", "127.0.0.1:50051"]
ENTRYPOINT ["/usr/local/bin/lms"]
CMD ["up", "--data-dir", "/tmp/lms-data"]
