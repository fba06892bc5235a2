# pgcdc container image: built and run on Debian 12 with Debian's packages, like the host build.
# (Docker does not run on the development machines of this project; see README.)
FROM debian:bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config librdkafka-dev libpq-dev rapidjson-dev \
      libspdlog-dev libgtest-dev prometheus-cpp-dev libtomlplusplus-dev libsystemd-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    && cmake --build /build --target pgcdc

FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libpq5 libspdlog1.10 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
      libsystemd0 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/pgcdc --create-home pgcdc
COPY --from=build /build/daemon/pgcdc /usr/bin/pgcdc
USER pgcdc
EXPOSE 9187
ENTRYPOINT ["/usr/bin/pgcdc"]
CMD ["run", "-c", "/etc/pgcdc/pgcdc.toml"]
