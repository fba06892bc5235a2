# pgcdc container image: built on Debian 12 with Debian's packages, like the host build, and
# installed from the same Debian package (cpack) an operator would use, so apt resolves the runtime
# libraries. (Docker does not run on the development machines of this project; see README.)
FROM debian:bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config dpkg-dev file librdkafka-dev libpq-dev \
      rapidjson-dev libspdlog-dev libgtest-dev prometheus-cpp-dev libcivetweb-dev \
      libtomlplusplus-dev libsystemd-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    && cmake --build /build --target pgcdc \
    && cd /build && cpack -G DEB

FROM debian:bookworm-slim
COPY --from=build /build/pgcdc_*.deb /tmp/
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      /tmp/pgcdc_*.deb ca-certificates \
    && rm -rf /var/lib/apt/lists/* /tmp/pgcdc_*.deb \
    && useradd --system --home /var/lib/pgcdc --create-home pgcdc
USER pgcdc
# /metrics, /healthz, /readyz (metrics.listen must bind 0.0.0.0 inside a container).
EXPOSE 9187
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/pgcdc"]
CMD ["run", "-c", "/etc/pgcdc/pgcdc.toml"]
