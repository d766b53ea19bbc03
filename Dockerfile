# Sluice in a container: one image for every process (scheduler, worker, web,
# db migrate). Build: docker build -t sluice .   See README "Running on many machines".

# --- build stage ------------------------------------------------------------
FROM debian:12-slim AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libpqxx-dev libyaml-cpp-dev libcpp-httplib-dev nlohmann-json3-dev libsqlite3-dev \
      libgtest-dev libhowardhinnant-date-dev libcli11-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake ./cmake
COPY core ./core
COPY scheduler ./scheduler
COPY worker ./worker
COPY web ./web
COPY cli ./cli
COPY migrations ./migrations
# CMakeLists.txt also defines the test binary; only `sluice` is built here.
COPY tests ./tests
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --target sluice \
 && strip build/sluice

# --- runtime stage ----------------------------------------------------------
FROM debian:12-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpqxx-6.4 libyaml-cpp0.7 libsqlite3-0 libssl3 libcpp-httplib0.11 libdate-tz3 \
      libbrotli1 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/sluice --create-home sluice
COPY --from=build /src/build/sluice /usr/local/bin/sluice
USER sluice
WORKDIR /var/lib/sluice
ENTRYPOINT ["sluice"]
CMD ["--help"]
