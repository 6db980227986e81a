"""Whether runs in LPZ_STORE finished with the same bytes as a reference `lpz run` of their config: the
state.pt of every cell of the last generation, as tests/test_cluster.py compares them.

    python same_bytes.py REFERENCE_STORE REFERENCE_ID RUN_ID...

One line per run; exit status 1 when one is not finished or differs.
"""
from __future__ import annotations

import hashlib
import os
import sys

from lpz.runs import Run
from lpz.store import open_store


def final_states(run: Run) -> dict[int, bytes]:
    return {c: run.store.get(run.cell_key(run.generations, c, "state.pt")) for c in run.grid.cells}


def main(reference_store: str, reference_id: str, *run_ids: str) -> int:
    reference = final_states(Run.open(open_store(reference_store), reference_id))
    digest = hashlib.sha256(b"".join(reference[c] for c in sorted(reference))).hexdigest()[:16]
    store = open_store(os.environ["LPZ_STORE"])
    differ = 0
    for run_id in run_ids:
        run = Run.open(store, run_id)
        if not run.finished():
            print(f"{run_id}: not finished")
            differ += 1
        elif final_states(run) != reference:
            print(f"{run_id}: its final states differ from lpz run's")
            differ += 1
        else:
            print(f"{run_id}: the same {len(reference)} final cell states as lpz run, byte for byte "
                  f"(sha256 of all: {digest}...)")
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: python same_bytes.py REFERENCE_STORE REFERENCE_ID RUN_ID...")
    sys.exit(main(*sys.argv[1:]))
