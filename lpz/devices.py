"""Which device a worker trains on: LPZ_DEVICE, else a CUDA GPU when present, else the CPU."""
from __future__ import annotations

import os
import re

from lpz.errors import UserError

DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def gpu_count() -> int:
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def worker_device(process_index: int = 0) -> str:
    """The device of the worker process with this index: process i takes GPU i (mod the GPUs)."""
    override = os.environ.get("LPZ_DEVICE", "").strip()
    if override:
        if not DEVICE.fullmatch(override):
            raise UserError(f"LPZ_DEVICE={override!r}: use cpu, cuda or cuda:N")
        if override.startswith("cuda") and not gpu_count():
            raise UserError(f"LPZ_DEVICE={override} but this machine has no CUDA GPU; unset it to use the CPU")
        return override
    gpus = gpu_count()
    return f"cuda:{process_index % gpus}" if gpus else "cpu"


def default_concurrency() -> int:
    """Cell tasks at a time: one per GPU, or one per core on a CPU-only worker."""
    if os.environ.get("LPZ_DEVICE", "").startswith("cpu"):
        return os.cpu_count() or 1
    return gpu_count() or os.cpu_count() or 1


def platform(device: str) -> str:
    """What computed a cell-generation, as far as its bytes depend on it: torch's version, the device's
    kind and model, and on the CPU the instruction set torch's kernels use (AVX2, AVX512 ...). Two
    cell-generations of one run computed on different platforms may differ in their bytes."""
    import torch
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        major, minor = torch.cuda.get_device_capability(index)
        return f"torch {torch.__version__}, cuda {torch.cuda.get_device_name(index)} (sm_{major}{minor})"
    return f"torch {torch.__version__}, cpu {_cpu_model()} ({torch.backends.cpu.get_cpu_capability()})"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform as host
    return host.processor() or host.machine() or "unknown"
