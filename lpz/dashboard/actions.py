"""The dashboard's actions on a run: those of `lpz cancel` and `lpz resume` (lpz.engine.control)."""
from __future__ import annotations

from lpz.engine.control import cancel, resume

ACTIONS = {"cancel": cancel, "resume": resume}
