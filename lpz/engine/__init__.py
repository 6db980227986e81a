"""Running a run: one engine (lpz.engine.engine) decides what happens after each commit; two
transports drive it, a local process pool (lpz.engine.local) and Celery workers (lpz.engine.cluster
with the tasks in lpz/tasks/)."""
