"""docker-compose.yml and infra/Dockerfile agree with the code (read as files: no Docker needed).

The environment variables are checked against the ones lpz's source reads,
the worker command against the Celery app, the queue and the task names, and
the wiring (broker, store, bucket, GPUs) between the services; the test overlay
(docker-compose.test.yml) and its script against what they replace. `make
test-compose` (infra/compose-test.sh) builds and runs the stack for real.
"""
from __future__ import annotations

import ast
import json
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from celery.app.utils import find_app

import lpz.celery

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
DOCKERFILE = ROOT / "infra" / "Dockerfile"
TEST_SCRIPT = (ROOT / "infra" / "compose-test.sh").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

ENV_NAME = re.compile(r"LPZ_[A-Z0-9_]+")
WORKER_NEEDS = {"LPZ_BROKER_URL", "LPZ_STORE", "LPZ_S3_ENDPOINT", "LPZ_S3_ACCESS_KEY", "LPZ_S3_SECRET_KEY"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|TOKEN|ROOT_USER|BASIC_AUTH|CREDENTIAL")
# ${NAME:-default} or ${NAME-default}, $${...} or $$ (a literal $ for the container's shell), bare $NAME / ${NAME}.
INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)")


# --- reading the files -------------------------------------------------------------------------

def interpolated(value: str) -> str:
    """The value docker compose uses with none of the variables set: every ${VAR:-default} at its default."""
    def resolve(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group(2) is None:
            pytest.fail(f"docker-compose.yml: {match.group(0)} has no default; write ${{NAME:-default}}")
        return match.group(2)
    return INTERPOLATION.sub(resolve, value)


def environment(service: str) -> dict[str, str]:
    """A service's environment as written (list or mapping form), values as strings."""
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def env_value(service: str, name: str) -> str:
    return interpolated(environment(service)[name])


def tokens(command) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(keyword.upper(), rest.strip()) for keyword, _, rest in
            (line.strip().partition(" ") for line in joined.splitlines() if line.strip())]


def dockerfile_args(keyword: str) -> list[str]:
    return [rest for instruction, rest in dockerfile_instructions() if instruction == keyword]


def exec_form(keyword: str) -> list[str]:
    """The last CMD or ENTRYPOINT, which must be in JSON (exec) form so signals reach celery."""
    found = dockerfile_args(keyword)
    if not found:
        return []
    parsed = json.loads(found[-1])
    assert isinstance(parsed, list), f"Dockerfile {keyword} must be a JSON list (exec form)"
    return parsed


def dockerfile_base() -> str:
    """The default of the Dockerfile's ARG BASE: the image it builds on unless told otherwise."""
    (base,) = [args.split("=", 1)[1] for args in dockerfile_args("ARG") if args.startswith("BASE=")]
    return base


def dockerfile_env() -> dict[str, str]:
    env = {}
    for args in dockerfile_args("ENV"):
        env.update(dict(pair.split("=", 1) for pair in shlex.split(args)))
    return env


def _reads_environ(call: ast.Call) -> bool:
    """os.environ.get(...), environ.get(...), os.getenv(...)."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "getenv":
        return True
    return isinstance(func, ast.Attribute) and func.attr == "get" and _is_environ(func.value)


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or \
        (isinstance(node, ast.Name) and node.id == "environ")


def _env_helpers(tree: ast.Module) -> set[str]:
    """Functions that read the variable their argument names, like lpz.store.s3._env."""
    helpers = set()
    for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        parameters = {arg.arg for arg in function.args.args}
        for call in (n for n in ast.walk(function) if isinstance(n, ast.Call) and n.args):
            if _reads_environ(call) and isinstance(call.args[0], ast.Name) and call.args[0].id in parameters:
                helpers.add(function.name)
    return helpers


def env_names_read_by_code() -> set[str]:
    """Every LPZ_* name that lpz/ reads from the environment, found in its source."""
    names = set()
    for path in sorted(ROOT.glob("lpz/**/*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        helpers = _env_helpers(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args and (
                    _reads_environ(node) or (isinstance(node.func, ast.Name) and node.func.id in helpers)):
                key = node.args[0]
            elif isinstance(node, ast.Subscript) and _is_environ(node.value):
                key = node.slice
            else:
                continue
            if isinstance(key, ast.Constant) and isinstance(key.value, str) and ENV_NAME.fullmatch(key.value):
                names.add(key.value)
    return names


# --- the tests ----------------------------------------------------------------------------------

def test_the_services_exist():
    assert {"redis", "minio", "minio-init", "worker", "flower", "lpz"} <= set(SERVICES)


def test_every_lpz_variable_set_is_one_the_code_reads():
    read = env_names_read_by_code()
    assert WORKER_NEEDS <= read, f"the source scan missed names a worker needs: {WORKER_NEEDS - read}"
    for service in SERVICES:
        unknown = {name for name in environment(service) if name.startswith("LPZ_")} - read
        assert not unknown, f"service {service} sets {sorted(unknown)}, which lpz never reads"
    unknown = {name for name in dockerfile_env() if name.startswith("LPZ_")} - read
    assert not unknown, f"infra/Dockerfile sets {sorted(unknown)}, which lpz never reads"


def test_the_worker_and_the_cli_set_what_they_need():
    for service in ("worker", "lpz"):
        missing = WORKER_NEEDS - set(environment(service))
        assert not missing, f"service {service} does not set {sorted(missing)}"
    assert dockerfile_env()["LPZ_DATA_DIR"] == "/data"
    assert any(volume.split(":")[1] == "/data" for volume in SERVICES["worker"]["volumes"])


def test_the_worker_command_starts_the_lpz_app_on_its_queue():
    command = tokens(SERVICES["worker"]["command"])
    assert command[:2] == ["celery", "-A"] and command[3] == "worker", command
    assert command[command.index("-Q") + 1] == lpz.celery.QUEUE
    app = find_app(command[2])
    assert app is lpz.celery.app
    app.loader.import_default_modules()
    assert {"lpz.train_cell", "lpz.assemble"} <= set(app.tasks)


def test_the_worker_builds_the_dockerfile_and_the_cli_uses_the_same_image():
    build = SERVICES["worker"]["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert SERVICES["lpz"]["image"] == SERVICES["worker"]["image"]
    assert tokens(SERVICES["lpz"]["entrypoint"]) == ["lpz"]
    assert "cli" in SERVICES["lpz"]["profiles"]
    assert "./configs:/work/configs:ro" in SERVICES["lpz"]["volumes"]


def test_the_cli_container_writes_its_outputs_where_its_user_may():
    """`lpz sample` and `lpz report` write samples/ and reports/ under the working folder: the image
    gives that folder to its user, and the CLI service mounts host folders there."""
    workdir = dockerfile_args("WORKDIR")[-1]
    user = dockerfile_args("USER")[-1]
    creating = " ".join(args for args in dockerfile_args("RUN") if "useradd" in args)
    assert f"chown -R {user}:{user}" in creating and workdir in creating
    for folder in ("samples", "reports"):
        assert f"{workdir}/{folder}" in creating
        assert f"./{folder}:{workdir}/{folder}" in SERVICES["lpz"]["volumes"]
    assert f"./configs:{workdir}/configs:ro" in SERVICES["lpz"]["volumes"]
    assert SERVICES["lpz"]["user"] == "${LPZ_UID:-1000}:${LPZ_GID:-1000}" and "--uid 1000" in creating


def test_flower_watches_the_workers_broker():
    command = tokens(SERVICES["flower"]["command"])
    assert "flower" in command
    broker = environment("flower").get("CELERY_BROKER_URL")
    for position, token in enumerate(command):
        if token.startswith("--broker="):
            broker = token.split("=", 1)[1]
        elif token in {"--broker", "-b"}:
            broker = command[position + 1]
    assert broker == env_value("worker", "LPZ_BROKER_URL")
    assert [interpolated(port) for port in SERVICES["flower"]["ports"]] == ["127.0.0.1:5555:5555"]


def test_the_dashboard_serves_the_workers_store_on_loopback_with_a_token():
    command = tokens(SERVICES["dashboard"]["command"])
    assert command[:2] == ["lpz", "dashboard"] and "--allow-actions" not in command
    assert env_value("dashboard", "LPZ_STORE") == env_value("worker", "LPZ_STORE")
    assert env_value("dashboard", "LPZ_DASHBOARD_TOKEN")  # it listens on 0.0.0.0 inside its container
    port = command[command.index("--port") + 1]
    assert [interpolated(p) for p in SERVICES["dashboard"]["ports"]] == [f"127.0.0.1:{port}:{port}"]


def test_the_broker_is_the_redis_service():
    broker = urlsplit(env_value("worker", "LPZ_BROKER_URL"))
    assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
    assert interpolated(SERVICES["redis"]["image"]).startswith("redis:7")
    assert tokens(SERVICES["redis"]["command"])[-2:] == ["--appendonly", "yes"]
    assert any(volume.endswith(":/data") for volume in SERVICES["redis"]["volumes"])


def test_the_store_is_the_bucket_that_minio_init_creates():
    endpoint = urlsplit("//" + env_value("worker", "LPZ_S3_ENDPOINT"))
    assert endpoint.hostname == "minio" and endpoint.hostname in SERVICES
    assert endpoint.port == 9000 and env_value("worker", "LPZ_S3_SECURE") == "false"

    store = urlsplit(env_value("worker", "LPZ_STORE"))
    assert store.scheme == "s3"
    script = interpolated("\n".join(tokens(SERVICES["minio-init"]["command"])))
    created = re.search(r"mc mb (?:--\S+ )*\"?\w+/(\$\{?)?([\w.-]+)", script)
    assert created, f"minio-init does not create a bucket: {script}"
    variable, bucket = created.groups()
    assert (env_value("minio-init", bucket) if variable else bucket) == store.netloc

    needs = SERVICES["worker"]["depends_on"]
    assert needs["minio-init"]["condition"] == "service_completed_successfully"


def test_workers_log_in_to_minio_with_its_root_credentials():
    minio = environment("minio")
    assert environment("worker")["LPZ_S3_ACCESS_KEY"] == minio["MINIO_ROOT_USER"]
    assert environment("worker")["LPZ_S3_SECRET_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    assert environment("minio-init")["MINIO_ROOT_PASSWORD"] == minio["MINIO_ROOT_PASSWORD"]
    assert "--console-address" in tokens(SERVICES["minio"]["command"])


def test_the_worker_reserves_nvidia_gpus():
    devices = SERVICES["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]} in devices


def test_the_image_runs_the_worker_command_of_the_compose_file():
    assert exec_form("ENTRYPOINT") + exec_form("CMD") == tokens(SERVICES["worker"]["command"])
    assert dockerfile_args("FROM") == ["${BASE}"]
    assert "cuda" in dockerfile_base()
    user = dockerfile_args("USER")
    assert user and user[-1] not in {"root", "0"}, "the image must run as a non-root user"


def test_the_image_installs_the_declared_packages_without_the_dev_constraints():
    copied = {source.rstrip("/") for args in dockerfile_args("COPY") for source in shlex.split(args)[:-1]}
    packages = {pattern.rstrip("*") for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages == {"lpz"}  # the Celery tasks are lpz.tasks: no generic top-level `tasks` installed
    assert packages | {"pyproject.toml", PYPROJECT["project"]["readme"]} <= copied
    installs = " ".join(dockerfile_args("RUN"))
    assert "pip install" in installs and "constraints.txt" not in installs

    ignored = {line.strip().strip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".git", "lpz-store", ".services"} <= ignored
    assert not (packages | {"pyproject.toml", "configs"}) & ignored


def test_no_literal_secrets():
    documented = " ".join(line for line in COMPOSE_TEXT.splitlines() if line.startswith("#"))
    for service in SERVICES:
        for name, value in environment(service).items():
            if not SECRET_NAME.search(name):
                continue
            reference = re.fullmatch(r"\$\{(\w+):-([^}]*)\}", value)
            assert reference, f"service {service}: {name} must come from the environment (${{VAR:-dev default}})"
            variable, default = reference.groups()
            assert f"{variable}={default}" in documented, \
                f"{name}'s default {default!r} is not a development default documented at the top"
    assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", COMPOSE_TEXT), "a URL with a password in it"
    assert not [args for args in dockerfile_args("ENV") + dockerfile_args("ARG") if SECRET_NAME.search(args)]


# --- what users may replace, and what make test-compose replaces ---------------------------------

IMAGE_VARIABLE = re.compile(r"\$\{(\w+):-([^}]+)\}")


def test_every_image_and_host_port_is_a_variable_with_todays_default():
    """A registry mirror, or make test-compose's stand-ins, replace images without editing the file."""
    for service, definition in SERVICES.items():
        assert IMAGE_VARIABLE.fullmatch(definition["image"]), f"service {service}: image is not ${{VAR:-default}}"
        for port in definition.get("ports", []):
            assert re.fullmatch(r"127\.0\.0\.1:\$\{\w+:-\d+\}:\d+", port), f"service {service}: port {port}"
    variables = {IMAGE_VARIABLE.fullmatch(definition["image"]).group(1) for definition in SERVICES.values()}
    assert variables == {"LPZ_IMAGE", "REDIS_IMAGE", "MINIO_IMAGE", "MC_IMAGE", "FLOWER_IMAGE"}
    documented = " ".join(line for line in COMPOSE_TEXT.splitlines() if line.startswith("#"))
    for name in variables | {"LPZ_BASE_IMAGE", "MINIO_PORT", "MINIO_CONSOLE_PORT", "FLOWER_PORT", "DASHBOARD_PORT"}:
        assert name in documented, f"{name} is not documented at the top of docker-compose.yml"


def test_the_base_image_build_argument_defaults_to_the_dockerfiles():
    argument = SERVICES["worker"]["build"]["args"]["BASE"]
    assert IMAGE_VARIABLE.fullmatch(argument).group(1) == "LPZ_BASE_IMAGE"
    assert interpolated(argument) == dockerfile_base()


def test_make_test_compose_replaces_every_public_image():
    """Its script sets every image variable (nothing is pulled from a registry) and every host port."""
    names = {IMAGE_VARIABLE.fullmatch(d["image"]).group(1) for d in SERVICES.values()} | {"LPZ_BASE_IMAGE"}
    names |= {re.search(r"\$\{(\w+)", port).group(1) for d in SERVICES.values() for port in d.get("ports", [])}
    exported = set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", TEST_SCRIPT))
    assert names <= exported, f"infra/compose-test.sh does not set {sorted(names - exported)}"


class _ComposeLoader(yaml.SafeLoader):
    """YAML with compose's !reset tag (docker compose 2.24+, podman-compose 1.1+)."""


_ComposeLoader.add_constructor("!reset", lambda loader, node: "!reset")


def test_the_test_overlay_only_drops_the_gpus_and_moves_the_cli_outputs():
    overlay = yaml.load((ROOT / "docker-compose.test.yml").read_text(), Loader=_ComposeLoader)["services"]
    assert set(overlay) == {"worker", "lpz"}
    assert overlay["worker"] == {"deploy": "!reset", "environment": {"LPZ_WORKER_CONCURRENCY": "1"}}
    targets = {volume.rsplit(":", 1)[1] for volume in overlay["lpz"]["volumes"]}
    assert targets == {"/work/samples", "/work/reports"} and set(overlay["lpz"]) == {"volumes"}
