"""The GPU's figures in one go: one MNIST cell-generation and a 2x2 `lpz run`, on CUDA and on the CPU.

    python bench/gpu_check.py                   # on a machine with an NVIDIA GPU
    python bench/gpu_check.py --device cpu      # the same on the CPU alone (bench/gpu.sh --dry-run)

Prints seconds per cell-generation (one epoch of 600 batches by default) and per generation of a
2x2 grid, for each device, and the CPU / GPU ratio; then, on the device only, seconds per generation of
a 5x5 grid (--rows) trained cell by cell and fused (general.fused_cells: all its cells as one
computation). Needs the MNIST files in LPZ_DATA_DIR/mnist.
Not a test.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_cell(config, device: str) -> float:
    """Seconds of generation 1 -> 2 of cell 0 (generation 1 first, to load data and scorer)."""
    from lpz.engine.work import compute_cell
    from lpz.runs import Run
    from lpz.store import LocalStore
    run = Run.create(LocalStore(tempfile.mkdtemp()), config, run_id="cell")
    for cell in run.grid.cells:
        compute_cell(run, 0, cell, device)
    start = time.perf_counter()
    compute_cell(run, 1, 0, device)
    return time.perf_counter() - start


def grid_run(config, device: str) -> float:
    """Seconds per generation of a local run, from the first generation's end to the last's."""
    import os
    from lpz.engine.local import run_local
    from lpz.runs import Run
    from lpz.store import LocalStore
    os.environ["LPZ_DEVICE"] = device
    run = Run.create(LocalStore(tempfile.mkdtemp()), config, run_id="grid")
    run_local(run, workers=1)
    metrics = run.all_metrics()
    ends = [max(m.committed_at for m in metrics[g].values()) for g in sorted(metrics)]
    return (ends[-1] - ends[0]) / (len(ends) - 1)


def fused_against_per_cell(config, device: str, rows: int) -> tuple[float, float]:
    """Seconds per generation of a rows x rows grid trained cell by cell and fused (general.fused_cells), on device.
    Fused cells train with selection on (lpz.config.models.fused_unsupported), so both do here."""
    from lpz.config import validate
    data = config.model_dump(mode="json")
    data["grid"]["rows"] = rows
    data["trainer"]["params"]["enable_selection"] = True
    per_cell = grid_run(validate(data), device)
    data["general"]["fused_cells"] = True
    return per_cell, grid_run(validate(data), device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (compared with the CPU) or cpu (the CPU alone)")
    parser.add_argument("--batches", type=int, default=600, help="batches per generation")
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--rows", type=int, default=5, help="the fused grid's rows (and columns)")
    args = parser.parse_args()

    import torch
    from lpz.config import load_config
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: run with --device cpu (bench/gpu.sh --dry-run)")
    config = load_config(ROOT / "configs" / "mnist.yml", {"dataloader.n_batches": args.batches,
                                                          "trainer.generations": args.generations})
    devices = [args.device] + (["cpu"] if args.device != "cpu" else [])
    print(f"MNIST 2x2, {args.batches} batches per generation, torch {torch.__version__}"
          + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""), flush=True)
    cells = {device: one_cell(config, device) for device in devices}
    grids = {device: grid_run(config, device) for device in devices}
    for device in devices:
        print(f"{device:6} one cell-generation {cells[device]:7.2f} s   2x2 run {grids[device]:7.2f} s/generation")
    if len(devices) > 1:
        print(f"CPU / {args.device}: {cells['cpu'] / cells[args.device]:.1f}x per cell-generation, "
              f"{grids['cpu'] / grids[args.device]:.1f}x per generation")
    per_cell, fused = fused_against_per_cell(config, args.device, args.rows)
    print(f"{args.device:6} {args.rows}x{args.rows} run cell by cell {per_cell:7.2f} s/generation, fused {fused:7.2f} s/generation "
          f"({per_cell / fused:.1f}x)")


if __name__ == "__main__":
    main()
