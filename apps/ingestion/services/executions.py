"""Running executions: create, claim, run, record (steps, report, failure), retry, cancel, poll.

One execution is one transaction: the provider is read and its payload
validated before the transaction opens, then `feeds.feed_apply` does every
write (tournament, data source, rounds, teams, matches, settlement requests),
which commits together or not at all. A failure of the provider, the payload
or the upsert ends the execution as failed with its reason in the report;
only the database going away while the run is claimed or recorded raises
(the ingestion task retries that).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.common import request_id
from apps.common.audit import Action, audit_record
from apps.common.errors import ApplicationError, Conflict
from apps.ingestion import metrics
from apps.ingestion.models import DataSource, Execution, ExecutionStep, Provider
from apps.ingestion.normalize import IngestionError
from apps.ingestion.providers import provider_get
from apps.ingestion.services.feeds import REPORT_SKIPPED_LIMIT, Progress, feed_apply
from apps.matches.models import Match, Tournament

logger = logging.getLogger(__name__)

OPERATIONS = tuple(Execution.Operation.values)


# --- creating and running executions -------------------------------------


def execution_create(
    *,
    provider: str,
    source: str,
    operation: str = Execution.Operation.FULL,
    tournament: Tournament | None = None,
    tournament_slug: str = "",
    options: dict | None = None,
    triggered_by=None,
    trigger: str = "command",
    retry_of: Execution | None = None,
) -> Execution:
    if operation not in OPERATIONS:
        raise ApplicationError("invalid_operation", f"Operation must be one of {', '.join(OPERATIONS)}.")
    if provider not in Provider.values:
        raise ApplicationError("invalid_provider", f"Provider must be one of {', '.join(Provider.values)}.")
    return Execution.objects.create(
        provider=provider,
        source=source,
        operation=operation,
        tournament=tournament,
        tournament_slug=tournament_slug or (tournament.slug if tournament else ""),
        options=dict(options or {}),
        triggered_by=triggered_by if getattr(triggered_by, "pk", None) else None,
        trigger=trigger,
        retry_of=retry_of,
        request_id=request_id.current() or "",
    )


def ingestion_run(
    *,
    provider: str,
    source: str,
    tournament_slug: str | None = None,
    operation: str = "full",
    options: dict | None = None,
    triggered_by=None,
    trigger: str = "command",
    progress: Progress | None = None,
    tournament_name: str | None = None,
) -> Execution:
    """Run one ingestion now, in this process, and return the finished Execution.

    The tournament (slug given, or derived from the provider's name for it) and
    its DataSource are created on first use. A failure does not raise: it is
    recorded on the returned execution (status failed, `error`, `report`).
    """
    options = dict(options or {})
    if tournament_name:
        options["name"] = tournament_name
    tournament = Tournament.objects.filter(slug=tournament_slug).first() if tournament_slug else None
    execution = execution_create(
        provider=provider,
        source=source,
        operation=operation,
        tournament=tournament,
        tournament_slug=tournament_slug or "",
        options=options,
        triggered_by=triggered_by,
        trigger=trigger,
    )
    return execution_run(execution_id=execution.pk, progress=progress)


def _execution_enqueue(execution: Execution) -> None:
    # Imported here: the task module imports this one (Celery task <-> service).
    from apps.ingestion.tasks import ingestion_execute

    execution_id = execution.pk
    logger.info("Ingestion execution %s queued (%s, %s)", execution_id, execution.provider, execution.operation)
    # After commit: a worker must find the row, and a rolled-back request must not run.
    transaction.on_commit(lambda: ingestion_execute.apply_async(kwargs={"execution_id": execution_id}))


def _execution_audit(*, execution: Execution, action: str, target, triggered_by) -> None:
    # `after` is the execution queued: its id leads to its steps and report.
    audit_record(
        actor=triggered_by,
        action=action,
        target=target,
        after={
            "execution": execution.pk,
            "provider": execution.provider,
            "source": execution.source,
            "operation": execution.operation,
            "trigger": execution.trigger,
        },
    )


def ingestion_enqueue(*, tournament: Tournament, operation: str, triggered_by=None, trigger: str = "api") -> Execution:
    """Queue an ingestion of `tournament` from its configured data source; the work runs on the ingestion queue.

    The execution and its audit entry (`ingestion_triggered`) commit together.
    """
    data_source = DataSource.objects.filter(tournament=tournament).first()
    if data_source is None:
        raise Conflict(
            "no_data_source",
            f"{tournament.name} has no data source; ingest it once from a file or URL, or add one in the admin.",
        )
    return _execution_start(
        action=Action.INGESTION_TRIGGERED,
        audit_target=tournament,
        provider=data_source.provider,
        source=data_source.source,
        operation=operation,
        tournament=tournament,
        triggered_by=triggered_by,
        trigger=trigger,
    )


def execution_retry(*, execution: Execution, triggered_by=None, trigger: str = "admin") -> Execution:
    """Queue a new execution repeating a failed or cancelled one (from the tournament's current data source).

    The new execution and its audit entry (`execution_retried`) commit together.
    """
    if execution.status not in (Execution.Status.FAILED, Execution.Status.CANCELLED):
        raise Conflict(
            "execution_not_retryable",
            f"Execution #{execution.pk} is {execution.status}; only failed or cancelled ones can be retried.",
        )
    provider, source = execution.provider, execution.source
    data_source = None
    if execution.tournament_id:
        data_source = DataSource.objects.filter(tournament_id=execution.tournament_id).first()
    if data_source is not None:
        provider, source = data_source.provider, data_source.source
    # Filed under the execution that failed: its entries tell who retried it and into which one.
    return _execution_start(
        action=Action.EXECUTION_RETRIED,
        audit_target=execution,
        provider=provider,
        source=source,
        operation=execution.operation,
        tournament=execution.tournament,
        tournament_slug=execution.tournament_slug,
        options=execution.options,
        triggered_by=triggered_by,
        trigger=trigger,
        retry_of=execution,
    )


def _execution_start(*, action: str, audit_target, triggered_by, **create) -> Execution:
    """Create an execution, its audit entry and its job, all or nothing (the job is sent after commit)."""
    with transaction.atomic():
        execution = execution_create(triggered_by=triggered_by, **create)
        _execution_audit(execution=execution, action=action, target=audit_target, triggered_by=triggered_by)
        _execution_enqueue(execution)
    return execution


def execution_cancel(*, execution: Execution) -> bool:
    """Cancel a queued execution; one already running or finished is left alone (returns False)."""
    cancelled = Execution.objects.filter(pk=execution.pk, status=Execution.Status.QUEUED).update(
        status=Execution.Status.CANCELLED, finished_at=timezone.now(), error="Cancelled before it started."
    )
    if cancelled:
        metrics.executions.labels(provider=execution.provider, outcome=Execution.Status.CANCELLED).inc()
    return bool(cancelled)


def _step(execution: Execution, name: str, detail: str = "", count: int | None = None) -> None:
    ExecutionStep.objects.create(execution=execution, name=name, detail=detail[:2000], count=count)


def execution_run(*, execution_id: int, progress: Progress | None = None) -> Execution:
    """Claim a queued execution and run it to completed or failed.

    The claim is a compare-and-swap on the status, so two workers handed the
    same message run it once; an execution that is not queued is returned as is.
    Every line logged meanwhile names the execution.
    """
    with request_id.bound(execution_id=execution_id):
        execution = _execution_run(execution_id=execution_id, progress=progress)
        if execution.finished_at is not None:
            logger.info("Ingestion execution %s %s: %s", execution_id, execution.status, execution.error or "no error")
        return execution


def _execution_run(*, execution_id: int, progress: Progress | None = None) -> Execution:
    started_at = timezone.now()
    claimed = Execution.objects.filter(pk=execution_id, status=Execution.Status.QUEUED).update(
        status=Execution.Status.IN_PROGRESS, started_at=started_at
    )
    execution = Execution.objects.select_related("tournament").get(pk=execution_id)
    if not claimed:
        return execution
    logger.info(
        "Ingestion execution %s started: %s %s from %s",
        execution_id,
        execution.provider,
        execution.operation,
        execution.source,
    )
    clock = time.perf_counter()
    stage = "fetch"
    requested_tournament_id = execution.tournament_id
    report: dict = {
        "provider": execution.provider,
        "source": execution.source,
        "operation": execution.operation,
    }
    try:
        provider = provider_get(execution.provider)
        options = _options_effective(execution)
        payload = provider.load(source=execution.source, options=options)
        _step(execution, "fetched", detail=execution.source)
        stage = "parse"
        feed = provider.parse(payload, options=options)
        _step(
            execution,
            "parsed",
            detail=f"{len(feed.matches)} matches, {len(feed.teams)} teams, {len(feed.rounds)} rounds",
            count=len(feed.matches),
        )
        stage = "upsert"
        with transaction.atomic():
            outcome = feed_apply(execution=execution, feed=feed, options=options, progress=progress)
    except Exception as exc:  # every failure ends the execution with its reason
        if isinstance(exc, IngestionError):
            message = str(exc)
        else:
            logger.exception("Ingestion execution %s failed during %s", execution_id, stage)
            message = f"Unexpected {exc.__class__.__name__} during {stage}: {exc}"
        duration = time.perf_counter() - clock
        # A tournament created inside the rolled-back transaction does not exist.
        execution.tournament_id = requested_tournament_id
        _step(execution, "error", detail=message)
        report.update({"stage": stage, "error": message, "changes": 0, "duration_seconds": round(duration, 3)})
        _execution_finish(execution, status=Execution.Status.FAILED, report=report, error=message)
        metrics.executions.labels(provider=execution.provider, outcome=Execution.Status.FAILED).inc()
        metrics.execution_seconds.labels(provider=execution.provider).observe(duration)
        return execution

    duration = time.perf_counter() - clock
    matches = outcome["matches"]
    _step(
        execution,
        "upserted",
        detail=f"{matches['created']} created, {matches['updated']} updated",
        count=matches["created"] + matches["updated"],
    )
    _step(execution, "unchanged", count=matches["unchanged"])
    if matches["skipped"]:
        _step(execution, "skipped", detail="\n".join(outcome["skipped"][:REPORT_SKIPPED_LIMIT]), count=matches["skipped"])
    requests = outcome["settlement_requests"]
    if requests["settle"] or requests["reverse"]:
        _step(
            execution,
            "settlement",
            detail=f"{requests['settle']} settle, {requests['reverse']} reverse",
            count=requests["settle"] + requests["reverse"],
        )
    report.update(outcome)
    report["duration_seconds"] = round(duration, 3)
    _execution_finish(execution, status=Execution.Status.COMPLETED, report=report, error="")
    metrics.executions.labels(provider=execution.provider, outcome=Execution.Status.COMPLETED).inc()
    metrics.execution_seconds.labels(provider=execution.provider).observe(duration)
    return execution


def _execution_finish(execution: Execution, *, status: str, report: dict, error: str) -> None:
    execution.status = status
    execution.report = report
    execution.error = error
    execution.finished_at = timezone.now()
    execution.save(update_fields=["status", "report", "error", "finished_at", "tournament", "updated_at"])


def _options_effective(execution: Execution) -> dict:
    """Data source options, overlaid by the run's, with the tournament's time zone unless the run names one."""
    tournament = execution.tournament
    if tournament is None and execution.tournament_slug:
        tournament = Tournament.objects.filter(slug=execution.tournament_slug).first()
    stored = {}
    if tournament is not None:
        data_source = DataSource.objects.filter(tournament=tournament).first()
        if data_source is not None and data_source.provider == execution.provider:
            stored = dict(data_source.options)
    options = {**stored, **execution.options}
    if "time_zone" not in execution.options:
        options["time_zone"] = tournament.time_zone if tournament is not None else "UTC"
    return options



# --- scheduled polls ------------------------------------------------------------


def ingestion_poll(*, operation: str, live_only: bool) -> list[int]:
    """Queue one execution per tournament due for a poll; returns the execution ids.

    `live_only` picks tournaments with a match in play (its score changes by
    the minute); otherwise every tournament not yet finished (fixtures change
    rarely). Replays are driven by their own command, never polled, and a
    tournament whose previous poll is still queued or running is skipped so a
    slow provider does not pile up work.
    """
    now = timezone.now()
    sources = DataSource.objects.exclude(provider=Provider.REPLAY).select_related("tournament")
    if live_only:
        sources = sources.filter(tournament__in=_matches_in_play(now=now).values("tournament"))
    else:
        sources = sources.exclude(tournament__status=Tournament.Status.FINISHED)
    busy = Execution.objects.filter(
        status__in=(Execution.Status.QUEUED, Execution.Status.IN_PROGRESS), created_at__gte=now - timedelta(minutes=30)
    ).values("tournament")
    queued = []
    for data_source in sources.exclude(tournament__in=busy):
        with transaction.atomic():
            execution = execution_create(
                provider=data_source.provider,
                source=data_source.source,
                operation=operation,
                tournament=data_source.tournament,
                trigger="schedule",
            )
            _execution_enqueue(execution)
        queued.append(execution.pk)
    return queued


# A match still scheduled this long after its kickoff is not taken for in play.
IN_PLAY_AFTER_KICKOFF = timedelta(hours=3)


def _matches_in_play(*, now) -> QuerySet[Match]:
    """Matches the live poll asks results for: live ones, and scheduled ones whose kickoff has passed.

    Only a results poll moves a match to live, so polling live matches alone
    would never start: a match is polled from its kickoff on, and its first
    minutes reach the boards within one poll of the provider reporting them.
    One left scheduled without a result longer than a match lasts (the
    provider never reported it, or delayed it without saying) stops being
    polled three hours after kickoff, so a forgotten fixture does not keep its
    tournament on the fast poll for good.
    """
    kicked_off = Q(
        status=Match.Status.SCHEDULED,
        kickoff_at__lte=now,
        kickoff_at__gt=now - IN_PLAY_AFTER_KICKOFF,
        home_score__isnull=True,
    )
    return Match.objects.filter(Q(status=Match.Status.LIVE) | kicked_off)
