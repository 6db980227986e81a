"""Every random draw in lpz comes from a generator seeded by what it is for.

A purpose is the run seed plus any labels, e.g. (seed, cell, generation,
"fitness"); the same purpose always gives the same stream, in any process,
so results do not depend on which worker ran what, or in which order.
Nothing in lpz reads torch's or numpy's global random state.
"""
import hashlib

import numpy as np
import torch


def derive_seed(*purpose) -> int:
    text = "/".join(str(part) for part in purpose)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def generator(*purpose) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(*purpose))


def numpy_rng(*purpose) -> np.random.Generator:
    return np.random.default_rng(derive_seed(*purpose))
