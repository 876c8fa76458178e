"""Applying a feed: upsert one provider's view of a tournament (rounds, teams, matches, results).

Pure database work on a validated `Feed`; how the feed was fetched and how the
run is recorded belongs to `executions`. Each result that changes goes through
`match_result_save`, which writes its settlement request in the same
transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from django.db.models import Max, Min
from django.utils.text import slugify

from apps.common.names import name_key
from apps.ingestion.models import DataSource, Execution
from apps.ingestion.normalize import Feed, FeedMatch, PayloadError
from apps.matches.models import Match, Round, Team, Tournament
from apps.matches.services import match_result_save, match_result_snapshot

# (stage, done, total): called after each match is applied, for a command's progress bar.
Progress = Callable[[str, int, int], None]

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


def feed_actor(provider: str) -> str:
    """How the audit trail names a feed's changes: `feed:<provider>`."""
    return f"feed:{provider}"


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


def feed_apply(*, execution: Execution, feed: Feed, options: dict, progress: Progress | None = None) -> dict:
    """Upsert `feed` into the execution's tournament and return the report's counts.

    Must run inside the caller's transaction: rows are locked FOR UPDATE, and a
    PayloadError raised half-way must roll back everything written before it.
    Sets `execution.tournament` (created on first use) but saves no execution
    field; recording the run is the caller's job.
    """
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


def _result_values(feed_match: FeedMatch, *, match: Match | None) -> dict:
    """The score fields the feed gives `match` (None for a new one).

    A payload with only a running score in extra time leaves the regular-time
    score as recorded while regular time was played: extra-time goals never
    move it.
    """
    values = {field: getattr(feed_match, field) for field in SCORE_FIELDS}
    if feed_match.regular_score_unknown:
        values["home_score"] = match.home_score if match is not None else None
        values["away_score"] = match.away_score if match is not None else None
    return values


def _match_create(
    *, tournament: Tournament, provider: str, feed_match: FeedMatch, rounds: dict, teams: dict, results: bool
) -> str | None:
    values: dict = {"status": feed_match.status if feed_match.status in FIXTURE_STATUSES else Match.Status.SCHEDULED}
    if results:
        values = {"status": feed_match.status, **_result_values(feed_match, match=None)}
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
    return match_result_save(match=match, before=None, actor=feed_actor(provider))


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
        wanted.update(status=feed_match.status, **_result_values(feed_match, match=match))
    changed = [field for field, value in wanted.items() if getattr(match, field) != value]
    if not changed:
        return False, None
    before = match_result_snapshot(match=match)
    for field in changed:
        setattr(match, field, wanted[field])
    # The rule staff corrections follow too: settle a new or changed result, reverse a voided one.
    return True, match_result_save(
        match=match, before=before, update_fields=changed, actor=feed_actor(match.provider)
    )


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
