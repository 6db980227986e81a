"""A run as it lives in the store: its records, checkpoints and result (lpz.runs.run)."""
from lpz.runs.run import DamagedCheckpoint, DamagedResult, DamagedRun, Run, check_run_id, new_run_id

__all__ = ["DamagedCheckpoint", "DamagedResult", "DamagedRun", "Run", "check_run_id", "new_run_id"]
