"""`lpz submit` sends messages and writes run.json, so it imports nothing that trains (issue 25 item 6: it took
5-6 s, most of them torch's import, reached through the Celery app's worker concurrency (counting GPUs) and
the dataset check (the loaders' modules)). The worker decides its concurrency as it starts."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from lpz.runs import Run
from lpz.store import LocalStore
from tests.helpers import SUBMIT_DB, tiny

PROBE = ("import sys\nfrom lpz.cli import entry\ntry:\n    entry()\nfinally:\n"
         "    print('torch imported' if 'torch' in sys.modules else 'no torch', file=sys.stderr)")


@pytest.mark.parametrize("dataset, network", [("gaussian8", "mlp2d"), ("mnist", "four_layer_perceptron")])
def test_submit_sends_a_run_without_importing_torch(tmp_path, redis_url, data_env, dataset, network):
    import redis
    broker = redis.Redis.from_url(f"{redis_url}/{SUBMIT_DB}")
    broker.flushdb()
    config = tmp_path / "run.yml"  # mnist: in the test's data directory, found by path alone
    config.write_text(yaml.safe_dump(tiny(**{"dataloader.dataset_name": dataset, "network.name": network})))
    env = {**os.environ, "LPZ_BROKER_URL": f"{redis_url}/{SUBMIT_DB}", "LPZ_DATA_DIR": str(data_env)}
    result = subprocess.run([sys.executable, "-c", PROBE, "submit", str(config), "--store", str(tmp_path / "store")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "no torch"
    run = Run.open(LocalStore(tmp_path / "store"), result.stdout.strip())
    sent = [m for m in broker.lrange("gpu", 0, -1) if run.id.encode() in m]
    assert run.info.executor == "cluster" and len(sent) == 4  # generation 1's cells
    broker.flushdb()


def test_a_worker_s_concurrency_is_its_c_then_lpz_worker_concurrency_then_one_per_gpu_or_core(monkeypatch):
    from lpz import celery
    from lpz.devices import default_concurrency
    monkeypatch.delenv("LPZ_WORKER_CONCURRENCY", raising=False)
    assert celery.worker_concurrency() == default_concurrency()
    assert celery.worker_concurrency("auto") == default_concurrency()
    monkeypatch.setenv("LPZ_WORKER_CONCURRENCY", "3")
    assert celery.worker_concurrency() == 3 and celery.worker_concurrency(2) == 2

    class Conf:
        worker_concurrency = None
    from celery import signals
    conf = Conf()  # as a starting worker's app.conf: lpz.celery's handler of the signal sets it
    signals.celeryd_init.send(sender="w1@host", instance=None, conf=conf, options={"concurrency": None})
    assert conf.worker_concurrency == 3
