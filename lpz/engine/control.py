"""What a user may do to a run that is not training here: cancel it, or send it to the workers again.
`lpz cancel` / `lpz resume` and the dashboard's actions both call these."""
from __future__ import annotations

from lpz.engine import engine
from lpz.errors import UserError
from lpz.runs import Run


def cancel(run: Run) -> str:
    if run.finished():
        raise UserError(f"run {run.id} has finished; there is nothing to cancel")
    engine.cancel(run)
    again = f"lpz resume {run.id}" if run.executor == "cluster" else f"lpz run --resume {run.id}"
    return f"cancelled {run.id}; `{again}` continues it"


def resume(run: Run, app) -> str:
    """A stalled, cancelled or failed cluster run is sent to the workers again from its last complete
    generation, through the Celery app (lpz.celery: the caller, an edge of the package, passes it); a
    local run continues where it trains (`lpz run --resume`)."""
    if run.finished():
        raise UserError(f"run {run.id} has finished; `lpz sample {run.id}` draws from it")
    if run.executor != "cluster":
        raise UserError(f"run {run.id} is a local run: `lpz run --resume {run.id}` continues it on a machine "
                        f"that trains it")
    from lpz.engine.broker import check_broker
    from lpz.engine.cluster import Cluster
    check_broker()
    run.store.check()
    Cluster(app).resume(run)
    return f"resumed {run.id} from generation {run.last_complete_generation()}"
