# pgcdc container image: built with Debian's packages, like the host build, and installed from the
# same Debian package (cpack) an operator would use, so apt resolves the runtime libraries.
# DEBIAN=bookworm (Debian 12, the default) or trixie (Debian 13: librdkafka 2.8, which SCRAM
# authentication to Kafka 4 needs). scripts/test-docker builds and runs it.
ARG DEBIAN=bookworm
FROM debian:${DEBIAN} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config dpkg-dev file librdkafka-dev libpq-dev \
      rapidjson-dev libspdlog-dev prometheus-cpp-dev libcivetweb-dev \
      libtomlplusplus-dev libsystemd-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The code first and the files the package carries after it, so that a change to the docs or the
# tests does not compile pgcdc again.
COPY CMakeLists.txt ./
COPY core core/
COPY config config/
COPY connector connector/
COPY sinks sinks/
COPY daemon daemon/
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGCDC_TESTS=OFF \
    && cmake --build /build --target pgcdc
COPY README.md ./
COPY docs docs/
COPY examples examples/
COPY packaging packaging/
RUN cd /build && cpack -G DEB

FROM debian:${DEBIAN}-slim
COPY --from=build /build/pgcdc_*.deb /tmp/
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      /tmp/pgcdc_*.deb ca-certificates \
    && rm -rf /var/lib/apt/lists/* /tmp/pgcdc_*.deb \
    && useradd --system --home /var/lib/pgcdc --create-home pgcdc
USER pgcdc
# /metrics, /healthz, /readyz (metrics.listen must bind 0.0.0.0 inside a container with its own
# network; with host networking 127.0.0.1 is enough).
EXPOSE 9187
STOPSIGNAL SIGTERM
# Healthy = ready: snapshotting or streaming (/readyz 200). No curl in the image: bash's /dev/tcp.
# PGCDC_METRICS_PORT is the port of metrics.listen when it is not 9187.
ENV PGCDC_METRICS_PORT=9187
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/$PGCDC_METRICS_PORT && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ' 200 ' <&3"]
ENTRYPOINT ["/usr/bin/pgcdc"]
CMD ["run", "-c", "/etc/pgcdc/pgcdc.toml"]
