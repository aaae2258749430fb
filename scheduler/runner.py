"""APScheduler wiring: an in-memory job store that only wakes the dispatcher. The database is
the source of truth for what to send, so nothing is pickled and a restart loses nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from scheduler.clock import Clock
from scheduler.dispatcher import Dispatcher, DispatchReport
from scheduler.metrics import DeliveryMetrics

logger = logging.getLogger(__name__)

DISPATCH_JOB = "outbox-dispatch"
JOBS_JOB = "partnership-jobs"


class _SkipOverlapNotice(logging.Filter):
    """A paced batch often outlasts the interval; APScheduler then skips the next tick, which is
    exactly what max_instances=1 is for, not worth a warning every two seconds."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_SkipOverlapNotice())


class DeliveryService:
    """Runs ``dispatcher.run_once(now)`` every ``interval`` and whenever woken."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        clock: Clock,
        *,
        interval: float = 2.0,
        jobs: Callable[[datetime], Awaitable[None]] | None = None,
        jobs_interval: float = 60.0,
        metrics: DeliveryMetrics | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._jobs = jobs
        self._jobs_interval = jobs_interval
        self._clock = clock
        self._interval = interval
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[object]] = set()
        self.last_report: DispatchReport | None = None

    @property
    def owner(self) -> str:
        return self._dispatcher.owner

    def start(self) -> None:
        """Call from a running event loop (aiohttp's startup hook, or the worker's main)."""
        scheduler = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": AsyncIOExecutor()},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                # The outbox decides what is late (not_after), not APScheduler's 1 s default.
                "misfire_grace_time": None,
            },
            timezone="UTC",
        )
        scheduler.add_job(
            self.tick,
            IntervalTrigger(seconds=self._interval),
            id=DISPATCH_JOB,
            replace_existing=True,
            next_run_time=self._clock.now(),
        )
        if self._jobs is not None:
            scheduler.add_job(
                self.run_jobs,
                IntervalTrigger(seconds=self._jobs_interval),
                id=JOBS_JOB,
                replace_existing=True,
                next_run_time=self._clock.now(),
            )
        scheduler.start()
        self._scheduler = scheduler

    async def run_jobs(self) -> None:
        """The partnership's periodic work (closing check-ins...), with the time passed in."""
        if self._jobs is None:
            return
        self._track()
        try:
            await self._jobs(self._clock.now())
        except Exception:
            logger.exception("periodic jobs failed; will try again")

    async def tick(self) -> DispatchReport:
        self._track()
        try:
            report = await self._dispatcher.run_once(self._clock.now())
        except Exception:  # a database hiccup must not stop the schedule
            logger.exception("dispatch failed; will try again")
            if self._metrics is not None:
                self._metrics.dispatch_errors.inc()
            return DispatchReport()
        self.last_report = report
        if self._metrics is not None:
            self._metrics.observe(report)
        if report.next_due is not None:
            # Rows given back until their target is ready: come back for them then, not at the
            # next interval (a Slack channel's next slot is a second away, the tick two).
            self._wake_at(max(report.next_due, self._clock.now() + timedelta(milliseconds=100)))
        if report.claimed or report.skipped:
            logger.info(
                "dispatched: %d sent, %d retried, %d failed, %d skipped",
                report.sent,
                report.retried,
                report.failed,
                report.skipped,
            )
        return report

    def wake(self) -> None:
        """Something was queued for now: don't wait for the next interval."""
        self._wake_at(self._clock.now() + timedelta(milliseconds=10))

    def _wake_at(self, at: datetime) -> None:
        if self._scheduler is not None:
            job = self._scheduler.get_job(DISPATCH_JOB)
            if job is not None and (job.next_run_time is None or at < job.next_run_time):
                job.modify(next_run_time=at)

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def stop_sending(self) -> None:
        """Shutting down: claim and start nothing more (stop() then waits for the rest)."""
        self._dispatcher.stop_sending()

    async def stop(self, *, grace: float = 10.0) -> None:
        """Stop scheduling and claiming, let the sends in flight finish and be recorded (a batch
        holds a database connection that must be returned before the engine is disposed), then
        release the rows claimed but not sent, so another dispatcher takes them at once."""
        scheduler, self._scheduler = self._scheduler, None
        self._dispatcher.stop_sending()
        if scheduler is not None:
            # Pause first: APScheduler's shutdown cancels the jobs it is running.
            scheduler.pause()
        running = {task for task in self._running if task is not asyncio.current_task()}
        if running:
            _, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=grace)
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await self._dispatcher.release()
        await self._dispatcher.close()
