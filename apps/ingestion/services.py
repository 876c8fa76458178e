"""Ingestion: run a provider, upsert what it says, record every run as an Execution.

One execution is one transaction: the provider is read and its payload
validated before the transaction opens, then every write (tournament, data
source, rounds, teams, matches, settlement requests) commits together or not
at all. Each result change writes exactly one settlement request in that same
transaction (apps.leaderboards.services.outbox).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.db.models import Max, Min, Q
from django.utils import timezone
from django.utils.text import slugify

from apps.common import request_id
from apps.common.errors import ApplicationError, Conflict
from apps.ingestion import metrics
from apps.ingestion.models import DataSource, Execution, ExecutionStep, Provider
from apps.ingestion.normalize import Feed, FeedMatch, IngestionError, PayloadError, name_key
from apps.ingestion.providers import provider_get
from apps.matches.models import Match, Round, Team, Tournament
from apps.matches.services import match_result_save, match_result_snapshot

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

OPERATIONS = tuple(Execution.Operation.values)
# Run options that steer one run and are not kept in the data source: the time
# zone belongs to the tournament, resuming a replay is a one-off.
TRANSIENT_OPTIONS = frozenset({"time_zone", "replay_resume"})
MATCH_DURATION = timedelta(hours=2)
# Statuses a fixtures-only run may give a new match: they carry no result.
FIXTURE_STATUSES = (Match.Status.SCHEDULED, Match.Status.POSTPONED, Match.Status.CANCELLED)
SCORE_FIELDS = ("home_score", "away_score", "home_score_et", "away_score_et", "home_penalties", "away_penalties")
# Matches of another provider (or entered by hand) are taken over when the
# same pairing is listed within this distance of their kickoff.
ADOPT_WINDOW = timedelta(hours=36)
REPORT_SKIPPED_LIMIT = 50


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
    from apps.ingestion.tasks import ingestion_execute

    execution_id = execution.pk
    logger.info("Ingestion execution %s queued (%s, %s)", execution_id, execution.provider, execution.operation)
    # After commit: a worker must find the row, and a rolled-back request must not run.
    transaction.on_commit(lambda: ingestion_execute.apply_async(kwargs={"execution_id": execution_id}))


def ingestion_enqueue(*, tournament: Tournament, operation: str, triggered_by=None, trigger: str = "api") -> Execution:
    """Queue an ingestion of `tournament` from its configured data source; the work runs on the ingestion queue."""
    data_source = DataSource.objects.filter(tournament=tournament).first()
    if data_source is None:
        raise Conflict(
            "no_data_source",
            f"{tournament.name} has no data source; ingest it once from a file or URL, or add one in the admin.",
        )
    execution = execution_create(
        provider=data_source.provider,
        source=data_source.source,
        operation=operation,
        tournament=tournament,
        triggered_by=triggered_by,
        trigger=trigger,
    )
    _execution_enqueue(execution)
    return execution


def execution_retry(*, execution: Execution, triggered_by=None, trigger: str = "admin") -> Execution:
    """Queue a new execution repeating a failed or cancelled one (from the tournament's current data source)."""
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
    retry = execution_create(
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
    _execution_enqueue(retry)
    return retry


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
            outcome = _feed_apply(execution=execution, feed=feed, options=options, progress=progress)
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


# --- applying a feed --------------------------------------------------------


def _tournament_resolve(*, execution: Execution, feed: Feed, options: dict) -> tuple[Tournament, bool]:
    if execution.tournament_id:
        return Tournament.objects.select_for_update().get(pk=execution.tournament_id), False
    slug = execution.tournament_slug or slugify(feed.name)[:64]
    if not slug:
        raise PayloadError("Cannot derive a tournament slug from the provider's name; pass --tournament.")
    tournament = Tournament.objects.select_for_update().filter(slug=slug).first()
    if tournament is not None:
        return tournament, False
    tournament = Tournament.objects.create(
        name=(options.get("name") or feed.name)[:128], slug=slug, time_zone=options.get("time_zone") or "UTC"
    )
    return tournament, True


def _data_source_record(*, tournament: Tournament, execution: Execution, feed: Feed) -> bool:
    data_source = DataSource.objects.select_for_update().filter(tournament=tournament).first()
    kept = {key: value for key, value in execution.options.items() if key not in TRANSIENT_OPTIONS}
    if data_source is None:
        DataSource.objects.create(
            tournament=tournament, provider=execution.provider, source=execution.source, options={**kept, **feed.state}
        )
        return True
    base = data_source.options if data_source.provider == execution.provider else {}
    options = {**base, **kept, **feed.state}
    if (data_source.provider, data_source.source, data_source.options) == (execution.provider, execution.source, options):
        return False
    data_source.provider, data_source.source, data_source.options = execution.provider, execution.source, options
    data_source.save(update_fields=["provider", "source", "options", "updated_at"])
    return True


def _feed_apply(*, execution: Execution, feed: Feed, options: dict, progress: Progress | None) -> dict:
    tournament, tournament_created = _tournament_resolve(execution=execution, feed=feed, options=options)
    execution.tournament = tournament
    data_source_changed = _data_source_record(tournament=tournament, execution=execution, feed=feed)
    operation = execution.operation
    fixtures = operation in (Execution.Operation.FIXTURES, Execution.Operation.FULL)
    results = operation in (Execution.Operation.RESULTS, Execution.Operation.FULL)
    counts: dict[str, Counter] = {"rounds": Counter(), "teams": Counter(), "matches": Counter()}
    requests: Counter = Counter()
    skipped = list(feed.skipped)
    counts["matches"]["skipped"] += len(feed.skipped)

    if "time_zone" in execution.options and not tournament_created and tournament.time_zone != options["time_zone"]:
        tournament.time_zone = options["time_zone"]
        tournament.save(update_fields=["time_zone", "updated_at"])
        counts["tournament"] = Counter(updated=1)

    rounds = {r.name_key: r for r in Round.objects.filter(tournament=tournament)}
    for feed_round in feed.rounds:
        if feed_round.key in rounds:
            counts["rounds"]["unchanged"] += 1
        elif fixtures:
            rounds[feed_round.key] = Round.objects.create(
                tournament=tournament, name=feed_round.name[:128], name_key=feed_round.key[:128], order=feed_round.order
            )
            counts["rounds"]["created"] += 1

    teams = {t.name_key: t for t in Team.objects.filter(tournament=tournament)}
    teams_by_code = {t.code.upper(): t for t in teams.values() if t.code}
    for feed_team in feed.teams:
        team = teams.get(feed_team.key) or (teams_by_code.get(feed_team.code.upper()) if feed_team.code else None)
        if team is None:
            if not fixtures:
                continue
            team = Team.objects.create(
                tournament=tournament, name=feed_team.name[:128], name_key=feed_team.key[:128], code=feed_team.code
            )
            counts["teams"]["created"] += 1
        elif feed_team.code and not team.code:
            team.code = feed_team.code
            team.save(update_fields=["code"])
            counts["teams"]["updated"] += 1
        else:
            counts["teams"]["unchanged"] += 1
        teams[feed_team.key] = team
        if team.code:
            teams_by_code.setdefault(team.code.upper(), team)

    provider = execution.provider
    existing = {
        m.external_id: m
        for m in Match.objects.select_for_update().filter(
            provider=provider, external_id__in=[m.external_id for m in feed.matches]
        )
    }
    foreign = [m for m in existing.values() if m.tournament_id != tournament.pk]
    if foreign:
        raise PayloadError(
            f"{provider} match {foreign[0].external_id} already belongs to another tournament "
            f"(id {foreign[0].tournament_id}); one provider competition feeds one tournament."
        )
    adoptable = None
    total = len(feed.matches)
    for index, feed_match in enumerate(feed.matches, start=1):
        match = existing.get(feed_match.external_id)
        adopted = False
        if match is None and fixtures:
            if adoptable is None:
                adoptable = _adoptable_matches(tournament=tournament, provider=provider)
            match = _adopt(adoptable, feed_match=feed_match, teams=teams)
            if match is not None:
                match.provider, match.external_id = provider, feed_match.external_id
                match.save(update_fields=["provider", "external_id", "updated_at"])
                counts["matches"]["adopted"] += 1
                adopted = True
        if match is None:
            if not fixtures:
                counts["matches"]["skipped"] += 1
                skipped.append(f"match {feed_match.external_id}: not known yet; run fixtures first.")
            else:
                kind = _match_create(
                    tournament=tournament, provider=provider, feed_match=feed_match, rounds=rounds, teams=teams,
                    results=results,
                )
                counts["matches"]["created"] += 1
                if kind:
                    requests[kind] += 1
        else:
            changed, kind = _match_update(
                match, feed_match=feed_match, rounds=rounds, teams=teams, fixtures=fixtures, results=results
            )
            counts["matches"]["updated" if changed or adopted else "unchanged"] += 1
            if kind:
                requests[kind] += 1
        if progress is not None:
            progress("upsert", index, total)

    counts["tournament"] = counts.get("tournament", Counter()) + _tournament_summarize(tournament)
    changes = sum(
        counts[kind][field] for kind in counts for field in ("created", "updated") if field in counts[kind]
    ) + int(tournament_created)
    return {
        "tournament": {"id": tournament.pk, "slug": tournament.slug, "name": tournament.name, "created": tournament_created},
        "rounds": _counted(counts["rounds"], "created", "unchanged"),
        "teams": _counted(counts["teams"], "created", "updated", "unchanged"),
        "matches": _counted(counts["matches"], "created", "updated", "unchanged", "skipped", "adopted"),
        "settlement_requests": {"settle": requests["settle"], "reverse": requests["reverse"]},
        "data_source_changed": data_source_changed,
        "skipped": skipped[:REPORT_SKIPPED_LIMIT],
        "changes": changes,
    }


def _counted(counter: Counter, *fields: str) -> dict:
    return {field: counter[field] for field in fields}


def _adoptable_matches(*, tournament: Tournament, provider: str) -> dict[tuple[int, int], list[Match]]:
    found: dict[tuple[int, int], list[Match]] = {}
    for match in Match.objects.select_for_update().filter(tournament=tournament).exclude(provider=provider):
        found.setdefault((match.home_team_id, match.away_team_id), []).append(match)
    return found


def _adopt(adoptable: dict, *, feed_match: FeedMatch, teams: dict[str, Team]) -> Match | None:
    home, away = teams.get(feed_match.home.key), teams.get(feed_match.away.key)
    if home is None or away is None:
        return None
    for match in adoptable.get((home.pk, away.pk), []):
        if abs(match.kickoff_at - feed_match.kickoff_at) <= ADOPT_WINDOW:
            adoptable[(home.pk, away.pk)].remove(match)
            return match
    return None


def _result_values(feed_match: FeedMatch) -> dict:
    return {field: getattr(feed_match, field) for field in SCORE_FIELDS}


def _match_create(
    *, tournament: Tournament, provider: str, feed_match: FeedMatch, rounds: dict, teams: dict, results: bool
) -> str | None:
    values: dict = {"status": feed_match.status if feed_match.status in FIXTURE_STATUSES else Match.Status.SCHEDULED}
    if results:
        values = {"status": feed_match.status, **_result_values(feed_match)}
    match = Match(
        tournament=tournament,
        round=rounds[name_key(feed_match.round)],
        home_team=teams[feed_match.home.key],
        away_team=teams[feed_match.away.key],
        kickoff_at=feed_match.kickoff_at,
        provider=provider,
        external_id=feed_match.external_id,
        **values,
    )
    return match_result_save(match=match, before=None)


def _match_update(
    match: Match, *, feed_match: FeedMatch, rounds: dict, teams: dict, fixtures: bool, results: bool
) -> tuple[bool, str | None]:
    """Apply the feed to one match; returns (changed, settlement kind or None)."""
    wanted: dict = {}
    if fixtures:
        wanted.update(
            round_id=rounds[name_key(feed_match.round)].pk,
            home_team_id=teams[feed_match.home.key].pk,
            away_team_id=teams[feed_match.away.key].pk,
            kickoff_at=feed_match.kickoff_at,
        )
    if results and not match.result_by_hand:
        # A result staff set by hand wins over the feed until they release it.
        wanted.update(status=feed_match.status, **_result_values(feed_match))
    changed = [field for field, value in wanted.items() if getattr(match, field) != value]
    if not changed:
        return False, None
    before = match_result_snapshot(match=match)
    for field in changed:
        setattr(match, field, wanted[field])
    # The rule staff corrections follow too: settle a new or changed result, reverse a voided one.
    return True, match_result_save(match=match, before=before, update_fields=changed)


def _tournament_summarize(tournament: Tournament) -> Counter:
    """Dates from the first and last kickoff, status from the matches; saved only when they move."""
    span = Match.objects.filter(tournament=tournament).aggregate(first=Min("kickoff_at"), last=Max("kickoff_at"))
    if span["first"] is None:
        return Counter()
    statuses = set(Match.objects.filter(tournament=tournament).values_list("status", flat=True).distinct())
    done = {Match.Status.FINISHED, *Match.VOID_STATUSES}
    if statuses <= done:
        status = Tournament.Status.FINISHED
    elif statuses & {Match.Status.LIVE, *done}:
        status = Tournament.Status.RUNNING
    else:
        status = Tournament.Status.UPCOMING
    wanted = {"starts_at": span["first"], "ends_at": span["last"] + MATCH_DURATION, "status": status}
    changed = [field for field, value in wanted.items() if getattr(tournament, field) != value]
    if not changed:
        return Counter()
    for field in changed:
        setattr(tournament, field, wanted[field])
    tournament.save(update_fields=[*changed, "updated_at"])
    return Counter(updated=1)


# --- scheduled polls ------------------------------------------------------------


def ingestion_poll(*, operation: str, live_only: bool) -> list[int]:
    """Queue one execution per tournament due for a poll; returns the execution ids.

    `live_only` picks tournaments with a match in play or about to be (results
    change by the minute); otherwise every tournament not yet finished (fixtures
    change rarely). Replays are driven by their own command, never polled, and a
    tournament whose previous poll is still queued or running is skipped so a
    slow provider does not pile up work.
    """
    now = timezone.now()
    sources = DataSource.objects.exclude(provider=Provider.REPLAY).select_related("tournament")
    if live_only:
        kicking_off = Q(
            status=Match.Status.SCHEDULED,
            kickoff_at__lte=now + timedelta(minutes=5),
            kickoff_at__gte=now - timedelta(hours=4),
        )
        due = Match.objects.filter(Q(status=Match.Status.LIVE) | kicking_off)
        sources = sources.filter(tournament__in=due.values("tournament"))
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
