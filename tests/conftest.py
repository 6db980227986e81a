"""Shared fixtures: real MNIST, real services (started by `make test`), small configs."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The development services' defaults (.services/env) must not leak into tests: each test names the
# store it uses. The broker, if nothing else names one, is the suite's own Redis (never the default
# localhost:6379, which may be someone else's).
for _name in ("LPZ_STORE", "LPZ_BROKER_URL", "LPZ_ALLOWED_STORES"):
    os.environ.pop(_name, None)


def _suite_redis() -> str | None:
    """LPZ_TEST_REDIS_URL when it is the Redis infra/services.sh started for the suite (its process id is
    LPZ_TEST_REDIS_PID), else None: tests flush their database, so never someone else's Redis."""
    url, pid = os.environ.get("LPZ_TEST_REDIS_URL"), os.environ.get("LPZ_TEST_REDIS_PID")
    if not url or not pid:
        return None
    import redis
    try:
        running = redis.Redis.from_url(url, socket_timeout=5).info("server")["process_id"]
    except redis.RedisError:
        return None
    return url if str(running) == pid else None


SUITE_REDIS = _suite_redis()
if SUITE_REDIS:
    from tests.helpers import TEST_DB
    os.environ["LPZ_BROKER_URL"] = f"{SUITE_REDIS}/{TEST_DB}"

# Fixtures of their own modules: real S3 clients and buckets, real Celery workers.
pytest_plugins = ["tests.store_fixtures", "tests.cluster_fixtures"]


def _mnist_candidates():
    if os.environ.get("LPZ_TEST_MNIST"):
        yield Path(os.environ["LPZ_TEST_MNIST"])
    yield ROOT.parent / "shared" / "data" / "mnist"
    yield Path("/work/shared/data/mnist")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST IDX files (../shared/data/mnist beside the checkout)."""
    for candidate in _mnist_candidates():
        if (candidate / "train-images-idx3-ubyte.gz").is_file():
            return candidate
    pytest.fail("real MNIST not found: set LPZ_TEST_MNIST to the folder with train-images-idx3-ubyte.gz")


@pytest.fixture(scope="session")
def data_root(mnist_dir, tmp_path_factory) -> Path:
    """A data directory of the test session: the real MNIST linked in, caches written here
    (never into the shared MNIST folder)."""
    root = tmp_path_factory.mktemp("data")
    (root / "mnist").symlink_to(mnist_dir, target_is_directory=True)
    return root


@pytest.fixture
def data_env(data_root, monkeypatch) -> Path:
    """LPZ_DATA_DIR pointing at the session's data directory, which holds mnist/."""
    monkeypatch.setenv("LPZ_DATA_DIR", str(data_root))
    return data_root


@pytest.fixture(scope="session")
def s3_settings() -> dict:
    """The S3 server that `make test` started (infra/services.sh)."""
    names = ["LPZ_S3_ENDPOINT", "LPZ_S3_ACCESS_KEY", "LPZ_S3_SECRET_KEY"]
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not set: run the suite with `make test` "
                    f"(or `infra/services.sh start && . .services/env`)")
    return {n: os.environ[n] for n in names}


@pytest.fixture
def s3_bucket(s3_settings) -> str:
    """A fresh bucket name for one test."""
    return f"lpz-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not SUITE_REDIS:
        pytest.fail("no Redis of the suite's own (LPZ_TEST_REDIS_URL and LPZ_TEST_REDIS_PID from "
                    "infra/services.sh, which starts one on a free port): run the suite with `make test`")
    return SUITE_REDIS


SERVICE_MARKS = {"cluster", "browser", "slow"}
SERVICE_FIXTURES = {"s3_settings", "redis_url"}  # what the suite's Redis and S3 server give


def pytest_collection_modifyitems(items):
    """A test that uses the services is a cluster test; every test not marked cluster, browser or slow
    is a unit test (`make test-fast` runs those, and they need no service)."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
        if not SERVICE_MARKS & {mark.name for mark in item.iter_markers()}:
            item.add_marker(pytest.mark.unit)
