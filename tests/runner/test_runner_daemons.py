"""Kept daemon threads (runner/daemons.py), which read each run's event stream: a job never waits
behind another, and a thread a job finished with takes the next one."""

import threading
import time

from runner import daemons

DEADLINE = 10  # seconds: a deadline for conditions, not a measure


def _job(ran: list, done: threading.Event, hold: threading.Event | None = None):
    def job():
        if hold is not None:
            assert hold.wait(DEADLINE)
        ran.append(threading.get_ident())
        done.set()

    return job


def test_a_job_never_waits_behind_one_still_running():
    hold, first_done, second_done, ran = threading.Event(), threading.Event(), threading.Event(), []
    daemons.run_soon(_job(ran, first_done, hold))
    daemons.run_soon(_job(ran, second_done))
    assert second_done.wait(DEADLINE)  # while the first still holds its thread
    hold.set()
    assert first_done.wait(DEADLINE)
    assert ran[0] != ran[1]


def test_a_finished_jobs_thread_takes_the_next_job():
    ran, done = [], threading.Event()
    daemons.run_soon(_job(ran, done))
    assert done.wait(DEADLINE)
    until = time.monotonic() + DEADLINE
    while not daemons._idle and time.monotonic() < until:  # until a kept thread waits for a next job
        time.sleep(0.01)
    assert daemons._idle
    before = threading.active_count()
    again = threading.Event()
    daemons.run_soon(_job(ran, again), name="next-job")
    assert again.wait(DEADLINE)
    assert threading.active_count() <= before  # no thread was started for it


def test_a_job_that_raises_leaves_its_thread_for_the_next(caplog):
    def fails():
        raise RuntimeError("boom")

    daemons.run_soon(fails, name="failing-job")
    ran, done = [], threading.Event()
    until = time.monotonic() + DEADLINE
    while "failing-job failed" not in caplog.text and time.monotonic() < until:
        time.sleep(0.01)
    assert "failing-job failed" in caplog.text  # logged, with its traceback
    daemons.run_soon(_job(ran, done))
    assert done.wait(DEADLINE)
