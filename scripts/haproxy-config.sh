#!/usr/bin/env bash
# Writes the HAProxy configuration for one of the two deployments, from the
# one template scripts/haproxy.cfg.in:
#
#   haproxy-config.sh loopback BIND PORT...       fixed nodes on 127.0.0.1
#   haproxy-config.sh docker BIND HOST:PORT SLOTS nodes found through Docker's DNS
#
# BIND is HAProxy's listen address, e.g. 127.0.0.1:8000 or :8000. In the
# docker form HAProxy keeps SLOTS server slots and fills them with the
# addresses the name HOST resolves to, so `docker compose up --scale node=N`
# needs no reload.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
template=${HAPROXY_TEMPLATE:-$here/haproxy.cfg.in}
mode=${1:?mode: loopback or docker}
bind=${2:?listen address}
shift 2

resolvers=""
servers=""
case "$mode" in
  loopback)
    i=1
    for port in "$@"; do
      servers+="    server node$i 127.0.0.1:$port check"$'\n'
      i=$((i + 1))
    done
    ;;
  docker)
    target=${1:?HOST:PORT}
    slots=${2:-32}
    resolvers=$'\nresolvers docker\n    nameserver dns 127.0.0.11:53\n    hold valid 1s\n    hold obsolete 1s'
    servers="    server-template node 1-$slots $target check resolvers docker init-addr none"$'\n'
    ;;
  *) echo "haproxy-config: unknown mode $mode" >&2; exit 2 ;;
esac

while IFS= read -r line; do
  case "$line" in
    @RESOLVERS@) printf '%s\n' "$resolvers" ;;
    @SERVERS@) printf '%s' "$servers" ;;
    *) printf '%s\n' "${line//@API_BIND@/$bind}" ;;
  esac
done < "$template"
