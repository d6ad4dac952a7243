#!/usr/bin/env bash
# A local Switchboard cluster on loopback: redis-server, N nodes and HAProxy.
#
#   scripts/cluster.sh up [--nodes N] [--auth] [--tls] [--sentinel | --redis-cluster]
#                                       set up (install + build), start, wait until ready;
#                                       --auth: nodes require tokens, and an admin token is printed
#                                       --tls: HAProxy also serves https:// and wss:// with a
#                                       self-signed certificate for localhost and 127.0.0.1
#                                       --sentinel: Redis as a master, a replica and three
#                                       sentinels (master name "switchboard"); the nodes find
#                                       the master through the sentinels and follow failovers
#                                       --redis-cluster: a Redis Cluster of 3 masters and 3
#                                       replicas instead of one redis-server
#   scripts/cluster.sh down             stop exactly what `up` started
#   scripts/cluster.sh status           show what runs
#
# Ports (override with the environment):
#   API (HAProxy)  SB_API_PORT        8000
#   nodes          SB_NODE_BASE_PORT  8001, 8002, ...
#   redis-server   SB_REDIS_PORT      6380 (not 6379, so a system Redis is left alone)
#   Redis Cluster  SB_REDIS_CLUSTER_PORT  7001..7006, their cluster bus ports 7011..7016
#   HTTPS (--tls)  SB_TLS_PORT        8443
#   replica        SB_REDIS_REPLICA_PORT   6381 (--sentinel)
#   sentinels      SB_SENTINEL_BASE_PORT   26380, 26381, 26382 (--sentinel)
# State, pids and logs live in .run/ (git-ignored), or in SB_RUN_DIR when set
# (so a second cluster, e.g. the integration test's, keeps its own state).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run=${SB_RUN_DIR:-$root/.run}
api_port=${SB_API_PORT:-8000}
node_base=${SB_NODE_BASE_PORT:-8001}
redis_port=${SB_REDIS_PORT:-6380}
tls_port=${SB_TLS_PORT:-8443}
rc_base=${SB_REDIS_CLUSTER_PORT:-7001}
replica_port=${SB_REDIS_REPLICA_PORT:-6381}
sentinel_base=${SB_SENTINEL_BASE_PORT:-26380}
master_name=switchboard
nodes=2
auth=0
tls=0
sentinel=0
redis_cluster=0

cmd=${1:-}
shift || true
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=$2; shift ;;
    --auth) auth=1 ;;
    --tls) tls=1 ;;
    --sentinel) sentinel=1 ;;
    --redis-cluster) redis_cluster=1 ;;
    *) echo "cluster: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$sentinel" -eq 1 ] && [ "$redis_cluster" -eq 1 ]; then
  echo "cluster: --sentinel and --redis-cluster exclude each other" >&2
  exit 2
fi

alive() {  # pidfile expected-command-substring
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q "$2" "/proc/$pid/cmdline" 2>/dev/null
}

running() {  # pid: alive and not a zombie waiting to be reaped by its parent
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

stop_pid() {  # pidfile expected-command-substring
  local f=$1 pid
  if alive "$f" "$2"; then
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do running "$pid" || break; sleep 0.1; done
    running "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

wait_http() {  # url seconds [more curl arguments]
  local url=$1 deadline=$(( $(date +%s) + $2 ))
  shift 2
  until curl -fsS -o /dev/null --max-time 1 "$@" "$url" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# --tls: a self-signed certificate for localhost and 127.0.0.1, kept in the
# run directory and reused while it is valid for another day. tls-cert.pem
# is what a client trusts (curl --cacert); tls.pem is HAProxy's crt, the
# certificate followed by its key, readable by the owner only.
make_cert() {
  local cert=$run/tls-cert.pem key=$run/tls-key.pem
  if [ -s "$run/tls.pem" ] && openssl x509 -in "$cert" -noout -checkend 86400 >/dev/null 2>&1; then
    return 0
  fi
  (umask 077
   openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=localhost \
     -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
     -keyout "$key" -out "$cert" >"$run/logs/openssl.log" 2>&1 \
     || { echo "cluster: openssl could not make a certificate; see $run/logs/openssl.log" >&2; exit 1; }
   cat "$cert" "$key" > "$run/tls.pem")
}

# --sentinel: a replica of the master and three sentinels watching it,
# quick to fail over (the master is down after 1 s of silence). Each
# sentinel keeps its own config file in the run directory, which Sentinel
# rewrites as it learns.
start_sentinels() {
  local i port conf
  redis-server --port "$replica_port" --bind 127.0.0.1 --save "" --appendonly no \
    --replicaof 127.0.0.1 "$redis_port" \
    --daemonize yes --pidfile "$run/redis-replica.pid" --logfile "$run/logs/redis-replica.log"
  for i in 1 2 3; do
    port=$((sentinel_base + i - 1))
    conf=$run/sentinel$i.conf
    printf '%s\n' "port $port" "bind 127.0.0.1" "dir $run" \
      "sentinel monitor $master_name 127.0.0.1 $redis_port 2" \
      "sentinel down-after-milliseconds $master_name 1000" \
      "sentinel failover-timeout $master_name 5000" > "$conf"
    redis-server "$conf" --sentinel --daemonize yes --pidfile "$run/sentinel$i.pid" \
      --logfile "$run/logs/sentinel$i.log"
  done
  for i in 1 2 3; do
    port=$((sentinel_base + i - 1))
    for _ in $(seq 1 100); do
      redis-cli -p "$port" sentinel get-master-addr-by-name "$master_name" 2>/dev/null \
        | grep -qx "$redis_port" && break
      sleep 0.1
    done
  done
  SWITCHBOARD_REDIS_SENTINELS=127.0.0.1:$sentinel_base,127.0.0.1:$((sentinel_base + 1)),127.0.0.1:$((sentinel_base + 2))
  SWITCHBOARD_REDIS_MASTER_NAME=$master_name
  export SWITCHBOARD_REDIS_SENTINELS SWITCHBOARD_REDIS_MASTER_NAME
}

write_haproxy_cfg() {
  local ports=() i
  for i in $(seq 1 "$nodes"); do ports+=($((node_base + i - 1))); done
  if [ "$tls" -eq 1 ]; then
    SB_TLS_PEM=$run/tls.pem SB_TLS_BIND=127.0.0.1:$tls_port \
      "$root/scripts/haproxy-config.sh" loopback "127.0.0.1:$api_port" "${ports[@]}" > "$run/haproxy.cfg"
  else
    "$root/scripts/haproxy-config.sh" loopback "127.0.0.1:$api_port" "${ports[@]}" > "$run/haproxy.cfg"
  fi
}

# --redis-cluster: six servers (client ports rc_base.., bus ports rc_base+10..),
# joined by redis-cli into 3 masters with a replica each; the failure
# detection of the tests (cluster-node-timeout 2000). Waits until every
# server sees the whole cluster and every replica has synced.
start_redis_cluster() {
  local i port addrs=() seeds=
  for i in 0 1 2 3 4 5; do
    port=$((rc_base + i))
    mkdir -p "$run/redis-c$i"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-port $((rc_base + 10 + i)) --cluster-config-file "$run/redis-c$i/nodes.conf" \
      --cluster-node-timeout 2000 --dir "$run/redis-c$i" --save "" --appendonly no \
      --daemonize yes --pidfile "$run/redis-c$i.pid" --logfile "$run/logs/redis-c$i.log"
    addrs+=("127.0.0.1:$port")
    seeds=${seeds:+$seeds,}127.0.0.1:$port
  done
  for i in 0 1 2 3 4 5; do
    for _ in $(seq 1 50); do redis-cli -p $((rc_base + i)) ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
    >"$run/logs/redis-cluster-create.log" 2>&1 \
    || { echo "cluster: redis-cli --cluster create failed; see $run/logs/redis-cluster-create.log" >&2; exit 1; }
  local deadline=$(( $(date +%s) + 30 )) ok
  for i in 0 1 2 3 4 5; do
    port=$((rc_base + i))
    until ok=$(redis-cli -p "$port" cluster info 2>/dev/null | grep -c 'cluster_state:ok\|cluster_known_nodes:6') \
          && [ "$ok" -eq 2 ] \
          && redis-cli -p "$port" info replication | grep -q 'role:master\|master_link_status:up'; do
      [ "$(date +%s)" -lt "$deadline" ] || { echo "cluster: Redis Cluster not ready" >&2; exit 1; }
      sleep 0.2
    done
  done
  redis_env="SWITCHBOARD_REDIS_CLUSTER=$seeds"
}

start_redis() {
  if [ "$redis_cluster" -eq 1 ]; then
    start_redis_cluster
    return
  fi
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize yes --pidfile "$run/redis.pid" --logfile "$run/logs/redis.log"
  for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis_env="SWITCHBOARD_REDIS_URL=redis://127.0.0.1:$redis_port/0"
}

up() {
  if alive "$run/redis.pid" redis-server || alive "$run/redis-c0.pid" redis-server; then
    echo "cluster: already running (scripts/cluster.sh down first)" >&2
    exit 1
  fi
  "$root/scripts/setup.sh" --target switchboard
  mkdir -p "$run/logs"
  [ "$tls" -eq 0 ] || make_cert
  # --auth: one random secret, kept in the run directory (readable by the
  # owner only) for minting more tokens; never printed.
  if [ "$auth" -eq 1 ]; then
    [ -s "$run/auth-secret" ] \
      || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$run/auth-secret")
    SWITCHBOARD_AUTH_SECRET=$(cat "$run/auth-secret")
    export SWITCHBOARD_AUTH_SECRET
  fi
  start_redis
  [ "$sentinel" -eq 0 ] || start_sentinels
  local i port
  # HAProxy reaches the nodes from 127.0.0.1: its X-Forwarded-For names the
  # client (the per-client limits count that address). Only 127.0.0.1, so a
  # client on another loopback address cannot speak for others.
  for i in $(seq 1 "$nodes"); do
    port=$((node_base + i - 1))
    env SWITCHBOARD_HOST=127.0.0.1 SWITCHBOARD_PORT=$port "$redis_env" \
      SWITCHBOARD_NODE_ID="node$i" SWITCHBOARD_TRUSTED_PROXIES=127.0.0.1/32 \
      nohup "$root/build/node/switchboard" >"$run/logs/node$i.log" 2>&1 &
    echo $! > "$run/node$i.pid"
  done
  for i in $(seq 1 "$nodes"); do
    wait_http "http://127.0.0.1:$((node_base + i - 1))/readyz" 15 \
      || { echo "cluster: node$i did not become ready; see $run/logs/node$i.log" >&2; exit 1; }
  done
  write_haproxy_cfg
  haproxy -f "$run/haproxy.cfg" -D -p "$run/haproxy.pid" >"$run/logs/haproxy.log" 2>&1
  wait_http "http://127.0.0.1:$api_port/readyz" 15 \
    || { echo "cluster: HAProxy did not become ready" >&2; exit 1; }
  if [ "$redis_cluster" -eq 1 ]; then
    echo "cluster: up — API and WebSockets at http://127.0.0.1:$api_port (HAProxy)," \
         "nodes on $node_base..$((node_base + nodes - 1)), Redis Cluster on $rc_base..$((rc_base + 5))"
  else
    echo "cluster: up — API and WebSockets at http://127.0.0.1:$api_port (HAProxy)," \
         "nodes on $node_base..$((node_base + nodes - 1)), redis on $redis_port"
  fi
  if [ "$tls" -eq 1 ]; then
    wait_http "https://127.0.0.1:$tls_port/readyz" 15 --cacert "$run/tls-cert.pem" \
      || { echo "cluster: HAProxy does not serve HTTPS on $tls_port" >&2; exit 1; }
    echo "cluster: HTTPS and WSS at https://localhost:$tls_port (self-signed certificate" \
         "$run/tls-cert.pem: curl --cacert it, or accept it once in the browser)"
  fi
  if [ "$sentinel" -eq 1 ]; then
    echo "cluster: Redis master $master_name on $redis_port, replica on $replica_port, sentinels on" \
         "$sentinel_base..$((sentinel_base + 2)); fail over with kill -9 \$(cat $run/redis.pid)"
  fi
  echo "cluster: logs in $run/logs; stop with scripts/cluster.sh down"
  if [ "$auth" -eq 1 ]; then
    echo "cluster: auth is on; mint tokens with SWITCHBOARD_AUTH_SECRET=\$(cat $run/auth-secret)" \
         "build/node/switchboard token --sub ID --room ID --grants join"
    echo "cluster: an admin token, valid 24 h:"
    "$root/build/node/switchboard" token --sub admin --room '*' --grants admin --ttl 24h
  fi
}

down() {
  stop_pid "$run/haproxy.pid" haproxy
  local f
  for f in "$run"/node*.pid; do
    [ -e "$f" ] && stop_pid "$f" switchboard
  done
  for f in "$run"/sentinel*.pid; do
    [ -e "$f" ] && stop_pid "$f" redis-server
  done
  stop_pid "$run/redis-replica.pid" redis-server
  stop_pid "$run/redis.pid" redis-server
  for f in "$run"/redis-c*.pid; do
    [ -e "$f" ] && stop_pid "$f" redis-server
  done
  rm -rf "$run"/redis-c[0-5]
  rm -f "$run/auth-secret" "$run"/sentinel*.conf
  echo "cluster: down"
}

status() {
  local f name
  for f in "$run"/*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$name: running (pid $(cat "$f"))"; else echo "$name: dead"; fi
  done
}

case "$cmd" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) sed -n '2,25p' "$0"; exit 2 ;;
esac
