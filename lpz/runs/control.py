"""A run's control record (control.json: cancelled or failed) and its place on the active list."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from lpz.errors import CorruptObject, ObjectMissing
from lpz.records import ControlRecord, InvalidRecord, checked
from lpz.runs import keys
from lpz.runs.base import MAX_RECORD_BYTES, RunBase


class Control(RunBase):
    def control(self) -> ControlRecord | None:
        """The record of a run that was cancelled or failed; None for one that was neither. A damaged
        record reads as a failure that says how to clear it."""
        try:
            return checked(ControlRecord, self.store.get_json(keys.control(self.id), max_bytes=MAX_RECORD_BYTES))
        except ObjectMissing:
            return None
        except (CorruptObject, InvalidRecord):
            clears = f"lpz resume {self.id}" if self.executor == "cluster" else f"lpz run --resume {self.id}"
            return ControlRecord(state="failed", error=f"its control.json is damaged; `{clears}` clears it")

    def set_control(self, state: str, **details) -> None:
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.store.put_json(keys.control(self.id), ControlRecord(state=state, at=when, **details).to_json())

    def clear_control(self) -> None:
        self.store.delete(keys.control(self.id))

    def set_active(self, active: bool) -> None:
        """Put the run on (or take it off) the store's list of cluster runs that workers drive."""
        if active:
            self.store.put_json(keys.active(self.id), {"run": self.id, "since": time.time()})
        else:
            self.store.delete(keys.active(self.id))
