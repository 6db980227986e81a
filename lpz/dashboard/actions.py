"""The dashboard's actions on a run, as `lpz cancel` and `lpz resume` do them."""
from __future__ import annotations

from lpz.engine import engine
from lpz.errors import UserError
from lpz.runs import Run


def cancel(run: Run) -> str:
    if run.finished():
        raise UserError(f"run {run.id} has finished; there is nothing to cancel")
    engine.cancel(run)
    return f"cancelled {run.id}"


def resume(run: Run) -> str:
    """A cluster run is sent to the workers again; a local run continues where it trains (`lpz run --resume`)."""
    if run.finished():
        raise UserError(f"run {run.id} has finished; there is nothing to resume")
    if run.executor != "cluster":
        raise UserError(f"run {run.id} is a local run: `lpz run --resume {run.id}` continues it on a machine "
                        f"that trains it")
    from lpz.celery import app as celery_app
    from lpz.engine.broker import check_broker
    from lpz.engine.cluster import Cluster
    check_broker()
    run.store.check()
    Cluster(celery_app).resume(run)
    return f"resumed {run.id} from generation {run.last_complete_generation()}"


ACTIONS = {"cancel": cancel, "resume": resume}
