"""Real-data statistics computed once per dataset and scorer, kept on disk in data_dir()/.cache."""
from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from lpz.files import write_atomically

log = logging.getLogger(__name__)


def cached_arrays(path: Path, count: int, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays saved at path for `count` real samples, else compute() them and save them there."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            if int(saved["count"]) == count:
                return {name: saved[name] for name in saved.files if name != "count"}
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        log.warning("ignoring the unreadable statistics cache %s (%s)", path, e)
    arrays = compute()
    buffer = io.BytesIO()
    np.savez(buffer, count=count, **arrays)
    try:
        write_atomically(path, buffer.getvalue())
    except OSError as e:
        log.warning("could not cache the real statistics in %s (%s); they are computed again next time", path, e)
    return arrays
