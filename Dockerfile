# Switchboard images, all from Debian 12 packages.
#
#   target node   the switchboard executable, as a non-root user
#   target lb     HAProxy with the configuration from scripts/haproxy-config.sh;
#                 HTTPS on 8443 when a PEM is mounted at /etc/switchboard/tls.pem
#   target redis  Debian's redis-server
#
# The build stage runs scripts/setup.sh, the same script the README's
# commands run, so the image holds what the tests test.

FROM debian:12-slim AS build
COPY . /src
RUN /src/scripts/setup.sh --build-dir /src/build --build-type Release --target switchboard

FROM debian:12-slim AS node
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libhiredis0.14 libevent-2.1-7 libjansson4 libuuid1 libssl3 curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --uid 10001 switchboard
COPY --from=build /src/build/node/switchboard /usr/local/bin/switchboard
USER switchboard
ENV SWITCHBOARD_HOST=0.0.0.0 SWITCHBOARD_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=2s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/switchboard"]

FROM debian:12-slim AS lb
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/haproxy.cfg.in scripts/haproxy-config.sh /etc/switchboard/
ENV SB_NODE_TARGET=node:8000 SB_NODE_SLOTS=32
EXPOSE 8000 8443
CMD ["sh", "-c", "/etc/switchboard/haproxy-config.sh docker :8000 \"$SB_NODE_TARGET\" \"$SB_NODE_SLOTS\" > /tmp/haproxy.cfg && exec haproxy -W -db -f /tmp/haproxy.cfg"]

FROM debian:12-slim AS redis
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*
USER redis
EXPOSE 6379
HEALTHCHECK --interval=2s --timeout=2s --retries=15 CMD redis-cli ping | grep -q PONG
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
