"""The broker (Redis): where it is, a client on it, and which errors of the services are passing.

No Celery here: `lpz status` and `lpz cancel` read this without loading it.
"""
from __future__ import annotations

import os

from lpz.errors import StoreUnavailable, UserError

QUEUE = "gpu"
DEFAULT_BROKER = "redis://localhost:6379/0"
RETRY_CAP_S = 60  # the longest wait between two tries of a task that met a passing error


def broker_url() -> str:
    return os.environ.get("LPZ_BROKER_URL") or DEFAULT_BROKER


def redis_client(timeout: float = 10):
    import redis
    url = broker_url()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise UserError(f"LPZ_BROKER_URL={url}: lpz needs a Redis broker (redis://host:port/db)")
    return redis.Redis.from_url(url, socket_connect_timeout=min(3, timeout), socket_timeout=timeout)


def check_broker() -> None:
    """One line and exit code 2 when the broker does not answer."""
    import redis
    try:
        redis_client().ping()
    except redis.RedisError as e:
        raise UserError(f"broker {broker_url()} does not answer ({e.__class__.__name__}): "
                        f"is Redis running? check LPZ_BROKER_URL") from None


def passing_errors() -> tuple[type[BaseException], ...]:
    """Errors of a service that is down for a while (a restart): retried, never fatal to a run."""
    import redis
    from kombu.exceptions import OperationalError
    return (StoreUnavailable, redis.ConnectionError, redis.TimeoutError, OperationalError, ConnectionError)


def retry_seconds() -> float:
    """How long a task keeps trying through passing errors (LPZ_RETRY_SECONDS, default 15 minutes)."""
    return _positive_seconds("LPZ_RETRY_SECONDS", 900)


def retries_within(seconds: float) -> int:
    """How many tries with waits of 1, 2, 4, ... RETRY_CAP_S seconds add up to at least seconds."""
    waited, tries = 0.0, 0
    while waited < seconds:
        waited += min(RETRY_CAP_S, 2.0 ** tries)
        tries += 1
    return tries


def _positive_seconds(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if not 0 < seconds < 10 ** 7:
        raise UserError(f"{name}={value!r}: give a number of seconds above 0")
    return seconds
