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
#
# TLS, from the environment:
#   SB_TLS_PEM            certificate, its chain and its private key in one PEM
#                         file (HAProxy's crt); the docker form uses
#                         /etc/switchboard/tls.pem when that file exists
#   SB_TLS_BIND           where HTTPS and WSS are served, e.g. 127.0.0.1:8443
#                         (docker form: :8443)
#   SB_TLS_REDIRECT_PORT  set: plain HTTP answers 301 to https://HOST:PORT
#                         (the docker form sets it, default 8443); unset: plain
#                         HTTP keeps serving next to HTTPS
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
    if [ -z "${SB_TLS_PEM:-}" ] && [ -f /etc/switchboard/tls.pem ]; then
      SB_TLS_PEM=/etc/switchboard/tls.pem
    fi
    if [ -n "${SB_TLS_PEM:-}" ]; then
      SB_TLS_BIND=${SB_TLS_BIND:-:8443}
      SB_TLS_REDIRECT_PORT=${SB_TLS_REDIRECT_PORT:-8443}
    fi
    target=${1:?HOST:PORT}
    slots=${2:-32}
    resolvers=$'\nresolvers docker\n    nameserver dns 127.0.0.11:53\n    hold valid 1s\n    hold obsolete 1s'
    servers="    server-template node 1-$slots $target check resolvers docker init-addr none"$'\n'
    ;;
  *) echo "haproxy-config: unknown mode $mode" >&2; exit 2 ;;
esac

tls=""
if [ -n "${SB_TLS_PEM:-}" ]; then
  [ -r "$SB_TLS_PEM" ] || { echo "haproxy-config: cannot read $SB_TLS_PEM" >&2; exit 1; }
  tls="    bind ${SB_TLS_BIND:?SB_TLS_BIND: where to serve HTTPS} ssl crt $SB_TLS_PEM"$'\n'
  tls+="    http-request set-header X-Forwarded-Proto https if { ssl_fc }"$'\n'
  tls+="    http-request set-header X-Forwarded-Proto http unless { ssl_fc }"$'\n'
  if [ -n "${SB_TLS_REDIRECT_PORT:-}" ]; then
    # The client's Host without its port, then the HTTPS port: a
    # browser that typed http://example.org:8000 lands on HTTPS.
    tls+="    http-request redirect location https://%[req.hdr(host),regsub(:[0-9]+\$,)]:$SB_TLS_REDIRECT_PORT%[capture.req.uri] code 301 unless { ssl_fc }"$'\n'
  fi
fi

while IFS= read -r line; do
  case "$line" in
    @RESOLVERS@) printf '%s\n' "$resolvers" ;;
    @SERVERS@) printf '%s' "$servers" ;;
    @TLS@) printf '%s' "$tls" ;;
    *) printf '%s\n' "${line//@API_BIND@/$bind}" ;;
  esac
done < "$template"
