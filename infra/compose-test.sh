#!/usr/bin/env bash
# make test-compose: docker-compose.yml built and run as users run it, on podman, checked through the
# stack's own services. No container registry is needed: the public images are replaced by stand-ins
# built from the Debian mirror and PyPI (infra/test/substitutes.Dockerfile, docker-compose.test.yml).
#
#   infra/compose-test.sh          set up podman if missing, build the images, run the checks, clean up
#   KEEP=1 infra/compose-test.sh   leave the stack up at the end (the last line says how to remove it)
#
# Prints each step and one line of result. A service that fails to start fails the test, whatever
# podman-compose's exit code says. Images stay cached in podman's store between runs.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PROJECT=lpz-compose-test
PY="${PY:-$ROOT/.venv/bin/python}"
PODMAN_COMPOSE="${PODMAN_COMPOSE:-$ROOT/.venv/bin/podman-compose}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lpz-compose-test.XXXXXX")"
LOG="$WORK/log"
START=$SECONDS
# Podman's settings for VMs like the project's (crun fails there): see the file.
export CONTAINERS_CONF="$ROOT/infra/test/containers.conf"
COMPOSE=("$PODMAN_COMPOSE" -p "$PROJECT" -f docker-compose.yml -f docker-compose.test.yml)

say() { printf 'test-compose %3ds: %s\n' $((SECONDS - START)) "$*"; }
quiet() { "$@" >>"$LOG" 2>&1; }  # the command's output goes to the log only

fail() {
  trap - ERR
  if ((BASH_SUBSHELL)); then echo "test-compose: $*" >&2; exit 1; fi  # its caller fails and cleans up
  echo "--- the containers, and the last lines of each one's log (all output: $LOG)"
  podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}: {{.Status}}' 2>&1 || true
  for name in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' 2>/dev/null); do
    echo "--- $name"; podman logs "$name" 2>&1 | tail -8 || true
  done
  [ -n "${KEEP:-}" ] || remove_stack
  echo "test-compose: FAILED after $((SECONDS - START)) s: $*"
  exit 1
}
trap 'fail "line $LINENO: \`$BASH_COMMAND\` exited $?"' ERR
trap 'fail "interrupted"' INT TERM

service_containers() {  # the containers of a service, by name
  podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | sort
}
one() { service_containers "$1" | head -1; }
last_log_line() { podman logs "$1" 2>&1 | grep -v '^[[:space:]]*$' | tail -1 || true; }

wait_until() {  # wait_until SECONDS COMMAND...: until COMMAND succeeds, once a second; 1 if it never does
  local seconds=$1 i
  shift
  for ((i = 0; i < seconds; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  return 1
}

logs_have() {  # logs_have CONTAINER PATTERN (grep reads it all: no SIGPIPE under pipefail)
  podman logs "$1" 2>&1 | grep -E -- "$2" >/dev/null
}

# --- setup ------------------------------------------------------------------------------------------

setup_podman() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman runc catatonit fuse-overlayfs slirp4netns uidmap)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if ((${#missing[@]})); then
    say "installing ${missing[*]} from Debian"
    infra/apt-install.sh "${missing[@]}" || fail "could not install ${missing[*]} with apt-get"
  fi
  [ -x "$PODMAN_COMPOSE" ] || fail "no podman-compose at $PODMAN_COMPOSE: run make test-compose, which installs it"
  [ -x "$PY" ] || fail "no Python at $PY: run make test-compose, which creates it"
}

debian_mirror() {  # the Debian mirror this machine's apt uses
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources | grep -oE 'https?://[^ ]+' | grep -v security | head -1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

debian_image() {  # the base of every stand-in, made without a registry (once)
  podman image exists localhost/lpz-test/debian:bookworm && return
  local mirror
  mirror=$(debian_mirror)
  say "making localhost/lpz-test/debian:bookworm with debootstrap from $mirror (once, about a minute)"
  quiet debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" || fail "debootstrap from $mirror failed"
  tar -C "$WORK/rootfs" -c . | quiet podman import - localhost/lpz-test/debian:bookworm
  rm -rf "$WORK/rootfs"
}

image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

drop_replaced() {  # drop_replaced IMAGE OLD_ID: a rebuild leaves the image it replaced untagged; remove it
  if [ -n "$2" ] && [ "$2" != "$(image_id "$1")" ]; then quiet podman rmi "$2" || true; fi
}

build_images() {
  local context="$WORK/context" torch target old
  mkdir -p "$context/ca" "$context/wheels"
  cp infra/test/substitutes.Dockerfile infra/test/*.sh infra/test/mc.py "$context/"
  cp /usr/local/share/ca-certificates/*.crt "$context/ca/" 2>/dev/null || true
  # The CPU torch of constraints.txt, for Debian bookworm's Python 3.11. pip on this machine finds it
  # in its local wheel folder; inside a build, PyPI would give the multi-GB CUDA build.
  torch=$(grep -oE '^torch==[^ ;]+' constraints.txt)
  quiet "$PY" -m pip download "$torch" --no-deps --python-version 3.11 --only-binary=:all: -d "$context/wheels" \
    || fail "pip could not download $torch"
  "$PY" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
    >"$context/requirements.txt"
  say "building the stand-in images (cached after the first time) and lpz's (infra/Dockerfile)"
  for target in python torch redis minio mc flower; do
    old=$(image_id "localhost/lpz-test/$target")
    quiet podman build --target "$target" -t "localhost/lpz-test/$target" -f "$context/substitutes.Dockerfile" \
      "$context" || fail "building the $target stand-in failed"
    drop_replaced "localhost/lpz-test/$target" "$old"
  done
  old=$(image_id "$LPZ_IMAGE")
  quiet "${COMPOSE[@]}" build worker || fail "building infra/Dockerfile failed"
  drop_replaced "$LPZ_IMAGE" "$old"
}

free_ports() {  # free_ports N: N ports nothing listens on, from the kernel
  "$PY" -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

configure() {
  local ports
  read -r -a ports <<<"$(free_ports 4)"
  export LPZ_IMAGE=localhost/lpz-test/lpz LPZ_BASE_IMAGE=localhost/lpz-test/torch \
    REDIS_IMAGE=localhost/lpz-test/redis MINIO_IMAGE=localhost/lpz-test/minio \
    MC_IMAGE=localhost/lpz-test/mc FLOWER_IMAGE=localhost/lpz-test/flower \
    MINIO_PORT=${ports[0]} MINIO_CONSOLE_PORT=${ports[1]} FLOWER_PORT=${ports[2]} DASHBOARD_PORT=${ports[3]} \
    LPZ_DASHBOARD_TOKEN="test-$RANDOM$RANDOM$RANDOM" LPZ_TEST_OUTPUT="$WORK/out" LPZ_UID=1000 LPZ_GID=1000
  # The CLI runs as uid 1000 (not root): the folders it writes to are that user's, as the README says.
  mkdir -p "$WORK/out/samples" "$WORK/out/reports" "$WORK/reference"
  chown 1000:1000 "$WORK/out/samples" "$WORK/out/reports" "$WORK/reference"
}

# --- the stack --------------------------------------------------------------------------------------

remove_stack() {
  quiet "${COMPOSE[@]}" down -v --remove-orphans || true
}

leftovers() {  # what the project left behind: containers, volumes, networks
  local label="label=io.podman.compose.project=$PROJECT"
  {
    podman ps -a --filter "$label" --format 'container {{.Names}}'
    podman volume ls --filter "$label" --format 'volume {{.Name}}'
    podman network ls --filter "$label" --format 'network {{.Name}}'
  } | sort -u
}

finished_with() {  # finished_with CONTAINER CODE: it has exited with CODE
  [ "$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$1")" = "exited $2" ]
}

answers() {  # answers URL CODE: an HTTP GET of URL gets status CODE
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1")" = "$2" ]
}

workers_ready() {
  local name ready=0
  for name in $(service_containers worker); do
    if logs_have "$name" ' ready\.$'; then ready=$((ready + 1)); fi
  done
  [ "$ready" -eq "$1" ]
}

check_running() {  # every long-running service up and never restarted; minio-init done
  local name state
  for name in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
    state=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}} restarts={{.RestartCount}}' "$name")
    case "$name:$state" in
      *minio-init*:"exited 0 "*) ;;
      *:"running 0 restarts=0") ;;
      *) fail "service container $name is $state, not running: $(last_log_line "$name")" ;;
    esac
  done
}

start_stack() {
  local dashboard="http://127.0.0.1:$DASHBOARD_PORT" flower="http://127.0.0.1:$FLOWER_PORT"
  say "starting redis, minio and minio-init (stand-ins; the project is $PROJECT)"
  quiet "${COMPOSE[@]}" up -d redis minio minio-init
  # Podman 4.3 ignores depends_on's conditions, and healthchecks run only when asked (no systemd):
  # this waits for what docker compose would, and asks.
  wait_until 60 podman healthcheck run "$(one redis)" || fail "redis is not healthy after 60 s"
  wait_until 90 podman wait --condition=stopped "$(one minio-init)" || fail "minio-init still runs after 90 s"
  finished_with "$(one minio-init)" 0 || fail "minio-init did not create the bucket: $(last_log_line "$(one minio-init)")"
  say "minio-init created the bucket: $(last_log_line "$(one minio-init)")"
  say "starting two workers, Flower and the dashboard"
  quiet "${COMPOSE[@]}" up -d --no-deps --scale worker=2 worker flower dashboard
  wait_until 120 workers_ready 2 || fail "the two workers are not ready after 120 s"
  wait_until 60 answers "$dashboard/?token=$LPZ_DASHBOARD_TOKEN" 200 \
    || fail "the dashboard does not answer on $dashboard after 60 s: $(last_log_line "$(one dashboard)")"
  wait_until 60 answers "$flower/" 200 || fail "Flower does not answer on $flower after 60 s: $(last_log_line "$(one flower)")"
  check_running
  say "up: $(podman ps --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' | tr '\n' ' ')"
}

cli() {  # cli [OPTIONS] lpz ARGS...: `docker compose run --rm lpz ARGS`, its dependencies up already
  "${COMPOSE[@]}" --profile cli run --rm --no-deps -T "$@" 2>>"$LOG"
}

status_field() {  # status_field ID FIELD: one field of `lpz status ID --json`, in the dashboard's container
  podman exec "$(one dashboard)" lpz status "$1" --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

wait_finished() {  # wait_finished ID SECONDS
  local until=$((SECONDS + $2)) state
  while ((SECONDS < until)); do
    state=$(status_field "$1" state 2>>"$LOG") || fail "lpz status $1 --json failed: $(tail -1 "$LOG")"
    case "$state" in
      finished) return 0 ;;
      failed | cancelled | damaged) fail "run $1 is $state: $(status_field "$1" reason 2>&1)" ;;
    esac
    sleep 2
  done
  fail "run $1 did not finish in $2 s (generation $(status_field "$1" generation 2>&1))"
}

submit() {  # submit VARIABLE: the quickstart config through the lpz service; the run's id into VARIABLE
  local out
  out=$(cli lpz submit configs/quickstart.yml) || fail "lpz submit failed: $(tail -2 "$LOG")"
  printf -v "$1" '%s' "$(echo "$out" | tail -1)"
}

# --- the checks -------------------------------------------------------------------------------------

push_data() {  # the real MNIST files, from where the tests find them, mounted into the CLI's /data
  local mnist="" candidate out
  for candidate in "${LPZ_TEST_MNIST:-}" "$ROOT/../shared/data/mnist" /work/shared/data/mnist; do
    if [ -n "$candidate" ] && [ -f "$candidate/train-images-idx3-ubyte.gz" ]; then mnist=$candidate; break; fi
  done
  [ -n "$mnist" ] || fail "real MNIST not found: set LPZ_TEST_MNIST to the folder with train-images-idx3-ubyte.gz"
  out=$(cli -v "$mnist:/data/mnist:ro" lpz data push mnist) || fail "lpz data push mnist failed: $(tail -2 "$LOG")"
  say "lpz data push mnist: $(echo "$out" | tail -1)"
}

train_undisturbed() {
  submit RUN_A
  say "lpz submit configs/quickstart.yml: run $RUN_A, trained by the two worker containers"
  wait_finished "$RUN_A" 300
  local status
  status=$(cli lpz status "$RUN_A" | grep -E 'finished' | head -1 || true)
  [ -n "$status" ] || fail "lpz status $RUN_A does not say finished"
  say "lpz status $RUN_A: $status"
  for name in $(service_containers worker); do
    logs_have "$name" "run $RUN_A generation [0-9]+ cell [0-9]+: done" || fail "$name trained no cell of $RUN_A"
  done
  say "both worker containers trained cells of $RUN_A"
}

sample_to_host() {
  cli lpz sample "$RUN_A" -n 500 >>"$LOG" || fail "lpz sample failed: $(tail -2 "$LOG")"
  local file
  for file in samples.png samples.npy; do
    file="$WORK/out/samples/$RUN_A/$file"
    [ -s "$file" ] || fail "lpz sample wrote no $file on the host"
    [ "$(stat -c %u "$file")" = 1000 ] || fail "$file belongs to uid $(stat -c %u "$file"), not 1000"
  done
  say "lpz sample: samples.png and samples.npy in the host folder $WORK/out/samples/$RUN_A/, owned by uid 1000"
}

check_web() {
  local dashboard="http://127.0.0.1:$DASHBOARD_PORT" code
  answers "$dashboard/run/$RUN_A?token=$LPZ_DASHBOARD_TOKEN" 200 || fail "the dashboard has no page for $RUN_A"
  answers "$dashboard/static/dashboard.css?token=$LPZ_DASHBOARD_TOKEN" 200 || fail "the dashboard serves no dashboard.css"
  curl -sf "$dashboard/api/runs?token=$LPZ_DASHBOARD_TOKEN" | grep -F "$RUN_A" >/dev/null || fail "the dashboard does not list $RUN_A"
  code=$(curl -s -o /dev/null -w '%{http_code}' "$dashboard/api/runs")
  case "$code" in 401 | 403) ;; *) fail "the dashboard answered $code without its token" ;; esac
  say "dashboard: pages, static files and $RUN_A with the token; $code without"
  local page name
  page=$(curl -sf "http://127.0.0.1:$FLOWER_PORT/") || fail "Flower does not answer"
  for name in $(service_containers worker); do
    name="celery@$(podman inspect --format '{{.Config.Hostname}}' "$name")"
    [[ $page == *"$name"* ]] || fail "Flower's page does not list $name"
  done
  say "Flower answers on 127.0.0.1:$FLOWER_PORT and lists both workers"
}

kill_a_worker() {
  local victim host gen=0 i holding="not seen holding a cell"
  submit RUN_B
  victim=$(one worker)
  host=$(podman inspect --format '{{.Config.Hostname}}' "$victim")
  # Kill it while it holds a cell's lease (its name is host:pid), a few generations in: mid-run, mid-cell.
  for ((i = 0; i < 300; i++)); do
    gen=$(status_field "$RUN_B" generation 2>>"$LOG" || echo 0)
    if [ "$gen" -ge 3 ] && podman exec "$(one dashboard)" lpz status "$RUN_B" --json 2>>"$LOG" \
        | grep -F "\"$host:" >/dev/null; then
      holding="while it held a cell's lease"
      break
    fi
    sleep 1
  done
  podman kill "$victim" >>"$LOG"
  say "run $RUN_B: podman kill $victim $holding, $gen of $(status_field "$RUN_B" generations) generations done"
  start_reference  # meanwhile, on the core the killed worker left
  wait_finished "$RUN_B" 300
  say "run $RUN_B finished without it ($victim is now $(podman inspect --format '{{.State.Status}}, restarts={{.RestartCount}}' "$victim"))"
}

start_reference() {  # an undisturbed `lpz run` of the same config in the lpz image: one process pool, no broker
  cli -v "$WORK/reference:/reference" lpz -q run configs/quickstart.yml --store /reference >>"$LOG" &
  REFERENCE=$!
}

compare_bytes() {
  local reference
  wait "$REFERENCE" || fail "the reference lpz run failed: $(tail -2 "$LOG")"
  reference=$(ls "$WORK/reference/runs")
  say "reference: lpz run configs/quickstart.yml in the lpz image, one process pool, no broker: $reference"
  cli -v "$WORK/reference:/reference:ro" -v "$ROOT/infra/test/same_bytes.py:/tmp/same_bytes.py:ro" \
    --entrypoint python lpz /tmp/same_bytes.py /reference "$reference" "$RUN_A" "$RUN_B" >"$WORK/same" \
    || fail "not the same bytes: $(tr '\n' ' ' <"$WORK/same")"
  while read -r line; do say "$line"; done <"$WORK/same"
}

take_down() {
  local left
  quiet "${COMPOSE[@]}" down -v --remove-orphans || fail "podman-compose down -v failed"
  left=$(leftovers)
  [ -z "$left" ] || fail "down -v left behind: $(echo "$left" | tr '\n' ' ')"
  say "down -v --remove-orphans: no container, volume or network of $PROJECT left"
}

setup_podman
say "podman $(podman version --format '{{.Client.Version}}'), $("$PODMAN_COMPOSE" --version | head -1), log: $LOG"
debian_image
configure
build_images
remove_stack  # what an interrupted run may have left
start_stack
push_data
train_undisturbed
sample_to_host
check_web
kill_a_worker
compare_bytes
if [ -n "${KEEP:-}" ]; then
  echo "test-compose: passed in $((SECONDS - START)) s; the stack is up; remove it with:" \
    "CONTAINERS_CONF=$CONTAINERS_CONF LPZ_TEST_OUTPUT=$WORK/out ${COMPOSE[*]} down -v --remove-orphans"
  exit 0
fi
take_down
rm -rf "$WORK"
echo "test-compose: passed in $((SECONDS - START)) s: the stack built and up, mnist pushed, $RUN_A trained by two workers and sampled as uid 1000, dashboard and Flower answer, $RUN_B finished after a worker was killed, both byte for byte lpz run's; down -v left nothing"
