# krpc images, all from one base (debian:bookworm-slim; scripts/docker-setup makes it locally
# when no registry can be reached). Targets:
#   build       compiles krpc with scripts/install-deps
#   node        slim runtime: krpc-node, krpc, krpc-bench, krpc-loadgen (non-root, HEALTHCHECK /readyz)
#   sdk         the build stage with krpc installed in /usr/local (headers, libraries, CMake
#               package, protoc-gen-krpc): FROM it to build your own service (docs/getting-started.md)
#   zookeeper   Debian's zookeeper package
#   prometheus  Debian's prometheus package with observability/prometheus.yml and alerts.yml
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
COPY scripts/install-deps /src/scripts/install-deps
RUN /src/scripts/install-deps --build-only && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DKRPC_BUILD_TESTS=OFF -DKRPC_BUILD_BENCH=OFF \
 && ninja -C /build krpc-node krpc krpc-bench krpc-loadgen \
 && strip /build/node/krpc-node /build/tools/krpc /build/tools/krpc-bench /build/tools/krpc-loadgen

FROM build AS sdk
RUN ninja -C /build && cmake --install /build --prefix /usr/local > /dev/null && rm -rf /src /build

FROM ${BASE} AS node
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libprotobuf32 libzookeeper-mt2 libspdlog1.10 libfmt9 libprometheus-cpp-core1.0 zlib1g libnghttp2-14 libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin krpc
COPY --from=build /build/node/krpc-node /build/tools/krpc /build/tools/krpc-bench \
     /build/tools/krpc-loadgen /usr/local/bin/
USER krpc
EXPOSE 7000 9100
# Ready = listening, registered in ZooKeeper, not draining (GET /readyz answers 200).
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${KRPC_ADMIN_PORT:-9100} && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["krpc-node"]
CMD ["--port=7000", "--admin_port=9100"]

FROM ${BASE} AS zookeeper
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends zookeeper \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data /conf \
 && printf 'tickTime=500\ninitLimit=20\nsyncLimit=10\ndataDir=/data\nclientPort=2181\nminSessionTimeout=1000\nmaxSessionTimeout=60000\nadmin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,mntr\nreconfigEnabled=false\n' > /conf/zoo.base.cfg \
 && chown -R zookeeper /data /conf
COPY scripts/zookeeper-start /usr/local/bin/zookeeper-start
USER zookeeper
EXPOSE 2181 2888 3888
# Healthy when serving: standalone, or a quorum member that knows its leader.
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=30 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/2181 && printf srvr >&3 && grep -qE '^Mode: (leader|follower|standalone)' <&3"]
CMD ["zookeeper-start"]

FROM ${BASE} AS prometheus
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus && chown prometheus /prometheus
COPY observability/prometheus.yml observability/alerts.yml observability/recording_rules.yml /etc/krpc-prometheus/
USER prometheus
EXPOSE 9090
CMD ["prometheus", "--config.file=/etc/krpc-prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", \
     "--web.listen-address=:9090", "--storage.tsdb.retention.time=2h"]
