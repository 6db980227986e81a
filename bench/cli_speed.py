"""How fast the commands that only read answer: `lpz list`, `lpz status`, `lpz cancel` on a local store.

    python bench/cli_speed.py              # median of 7 runs of each, on a store with 3 small runs

Each command runs as a user runs it (a new `lpz` process), and the script says whether torch or
Celery was imported (neither should be: importing torch alone takes seconds). Not a test.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROBE = ("import sys; from lpz.cli import entry\n"
         "try:\n    entry()\nexcept SystemExit:\n    pass\n"
         "print('torch' in sys.modules, 'celery' in sys.modules, file=sys.stderr)")


def timed(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    return time.perf_counter() - start, result.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    from lpz.config import validate
    from lpz.engine.local import run_local
    from lpz.runs import Run
    from lpz.store import LocalStore
    from tests.helpers import tiny

    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(tmp)
        runs = [Run.create(store, validate(tiny()), run_id=f"run-{i}", executor="cluster") for i in range(3)]
        run_local(runs[0], workers=1)
        commands = {"lpz list": ["list", "--store", tmp],
                    "lpz status": ["status", "run-0", "--store", tmp],
                    "lpz cancel": ["cancel", "run-1", "--store", tmp]}
        print(f"{'command':14}{'median':>9}{'min':>9}   imports torch, celery")
        for name, command in commands.items():
            seconds, imported = zip(*(timed(command) for _ in range(args.repeat)))
            torch, celery = imported[-1].split()
            print(f"{name:14}{statistics.median(seconds):8.2f}s{min(seconds):8.2f}s   {torch}, {celery}")


if __name__ == "__main__":
    main()
