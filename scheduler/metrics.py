"""What the delivery engine did, as Prometheus counters: read from each batch's DispatchReport,
so the dispatcher itself knows nothing of metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from scheduler.dispatcher import DispatchReport

SEND_OUTCOMES = ("sent", "retried", "skipped", "failed", "unreachable")


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sends = Counter(
            "partnerbot_sends",
            "Outbox messages by what became of a send: sent, retried later, skipped (past its "
            "deadline), failed, or failed because the platform said the target is unreachable",
            ["outcome"],
            registry=registry,
        )
        for outcome in SEND_OUTCOMES:
            self.sends.labels(outcome)
        self.rate_limited = Counter(
            "partnerbot_send_rate_limited",
            "429 answers from Slack or Teams to a send (each waited out or retried later)",
            registry=registry,
        )
        self.deferred = Counter(
            "partnerbot_send_deferred",
            "Outbox messages given back unsent because their target or app had no room within "
            "the run (due again when it will: pacing, not a failure)",
            registry=registry,
        )
        self.dispatch_errors = Counter(
            "partnerbot_dispatch_errors",
            "Dispatch rounds that failed as a whole (e.g. the database was unreachable)",
            registry=registry,
        )

    def observe(self, report: DispatchReport) -> None:
        counts = {
            "sent": report.sent,
            "retried": report.retried,
            "skipped": report.skipped,
            # The report counts an unreachable target among the failures too.
            "failed": report.failed - report.unreachable,
            "unreachable": report.unreachable,
        }
        for outcome, count in counts.items():
            if count > 0:
                self.sends.labels(outcome).inc(count)
        if report.rate_limited:
            self.rate_limited.inc(report.rate_limited)
        if report.deferred:
            self.deferred.inc(report.deferred)
