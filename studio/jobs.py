"""Background jobs: the page's long actions run one at a time in a worker thread (models share the CPU and torch's
random generator), each reporting progress and stopping at its next step when cancelled."""
from __future__ import annotations

import itertools
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.errors import UserError

KEPT_JOBS = 200  # finished jobs remembered for the page, oldest forgotten first


class Cancelled(Exception):
    """Raised inside a job at its next step after the user cancelled it."""


@dataclass
class Job:
    """One action: its state, progress, the equivalent command, and its result or one-line error."""

    id: str
    action: str
    command: str
    work: Callable[[Job], dict[str, Any]]
    status: str = "queued"  # queued, running, done, failed, cancelled
    done: int = 0
    total: int = 0
    stage: str = "waiting for the jobs before it"
    result: dict[str, Any] | None = None
    error: str = ""
    started: float = field(default_factory=time.time)
    cancel_requested: bool = False

    def step(self, done: int, total: int, stage: str) -> None:
        """Record progress (``done`` of ``total`` units, now doing ``stage``); stops here if cancelled."""
        if self.cancel_requested:
            raise Cancelled
        self.done, self.total, self.stage = done, total, stage

    def public(self) -> dict[str, Any]:
        """What the page polls."""
        return {"id": self.id, "action": self.action, "command": self.command, "status": self.status,
                "done": self.done, "total": self.total, "stage": self.stage, "result": self.result,
                "error": self.error}


class JobRunner:
    """A queue of jobs and the one worker thread that runs them in order."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="studio-jobs", daemon=True)
        self._worker.start()

    def submit(self, action: str, command: str, work: Callable[[Job], dict[str, Any]]) -> Job:
        """Queue ``work`` (called with its Job, returning the result) and return the job at once."""
        with self._lock:
            job = Job(f"{next(self._ids)}-{action}", action, command, work)
            self.jobs[job.id] = job
            for old in list(self.jobs)[:-KEPT_JOBS]:
                if self.jobs[old].status not in ("queued", "running"):
                    del self.jobs[old]
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job:
        """The job named ``job_id``; a UserError when there is none."""
        job = self.jobs.get(job_id)
        if job is None:
            raise UserError(f"no job {job_id!r} (the studio was restarted, or it finished long ago)")
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a job: a queued one never starts, a running one stops at its next step."""
        job = self.get(job_id)
        job.cancel_requested = True
        if job.status == "queued":
            job.status, job.stage = "cancelled", "cancelled before it started"
        return job

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """Wait until the job has finished (for tests and scripts); returns it in any state after ``timeout``."""
        job, end = self.get(job_id), time.monotonic() + timeout
        while job.status in ("queued", "running") and time.monotonic() < end:
            time.sleep(0.02)
        return job

    def close(self) -> None:
        """Stop the worker after the job it is running."""
        self._queue.put(None)

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            if job.status == "cancelled":
                continue
            job.status, job.stage = "running", "starting"
            try:
                job.result = job.work(job)
                job.status, job.stage = "done", "done"
            except Cancelled:
                job.status, job.stage = "cancelled", f"cancelled at: {job.stage}"
            except UserError as e:
                job.status, job.error = "failed", one_line(str(e))
            except Exception as e:  # noqa: BLE001 - a bug must not end the worker; the console gets the traceback
                traceback.print_exc()
                job.status, job.error = "failed", internal_error(e)


def one_line(text: str) -> str:
    """A message as one line, as the page shows every error."""
    return " ".join(text.split())


def internal_error(e: Exception) -> str:
    """The page's line for a bug (its traceback goes to the studio's console)."""
    return one_line(f"internal error ({type(e).__name__}: {e}); see the studio's console")
