"""The worker process side: what a Celery worker does with the ids its tasks receive.

pool: the process's instance pool (one per worker process); builds: building a version's
environment; runs: running a run on a Cog server and finishing it; relay: handing a running
run's events on; cancels: the listener that stops a run when asked; reaper: beat's sweep for
runs whose worker died. Web and API processes never import this package.
"""
