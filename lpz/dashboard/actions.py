"""The dashboard's actions on a run: those of `lpz cancel` and `lpz resume` (lpz.engine.control)."""
from __future__ import annotations

from lpz.engine.control import cancel, resume


def _resume(run) -> str:
    from lpz.celery import app  # the broker's edge: loaded only to send a run to the workers
    return resume(run, app)


ACTIONS = {"cancel": cancel, "resume": _resume}
