"""The normalized shape every provider adapter produces, and its validation.

Adapters turn a provider's payload into a `Feed`; the upsert service only ever
sees a `Feed`, so a new provider is one parser away. Validation happens here,
before any database write, so a bad payload fails its execution with a
readable reason and changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from apps.common.names import name_key

# Our match statuses (apps.matches.models.Match.Status values), repeated as
# plain strings so adapters stay free of Django imports.
SCHEDULED = "scheduled"
LIVE = "live"
FINISHED = "finished"
POSTPONED = "postponed"
CANCELLED = "cancelled"
ABANDONED = "abandoned"
STATUSES = frozenset({SCHEDULED, LIVE, FINISHED, POSTPONED, CANCELLED, ABANDONED})

MAX_GOALS = 99


class IngestionError(Exception):
    """An ingestion could not complete; the message is shown to operators as is."""


class ProviderError(IngestionError):
    """The provider could not be reached or refused the request (timeout, HTTP error, rate limit)."""


class PayloadError(IngestionError):
    """The provider answered, but the payload is not what its documented shape promises."""


def slug_key(text: str) -> str:
    """A compact, stable token for external ids built from names."""
    return re.sub(r"[^a-z0-9]+", "-", name_key(text)).strip("-")


@dataclass(frozen=True)
class FeedTeam:
    name: str
    code: str = ""

    @property
    def key(self) -> str:
        return name_key(self.name)


@dataclass(frozen=True)
class FeedRound:
    name: str
    order: int

    @property
    def key(self) -> str:
        return name_key(self.name)


@dataclass(frozen=True)
class FeedMatch:
    external_id: str
    round: str
    home: FeedTeam
    away: FeedTeam
    kickoff_at: datetime
    status: str = SCHEDULED
    # Regular time, extra time (cumulative, including regular time), penalty shoot-out.
    home_score: int | None = None
    away_score: int | None = None
    home_score_et: int | None = None
    away_score_et: int | None = None
    home_penalties: int | None = None
    away_penalties: int | None = None
    # The payload holds a running score in extra time but not the score after
    # regular time: the upsert keeps the regular-time score stored on the match
    # (recorded while regular time was played) instead of counting extra-time goals.
    regular_score_unknown: bool = False


@dataclass
class Feed:
    """One provider's view of one tournament: what the upsert service consumes."""

    name: str
    matches: list[FeedMatch]
    rounds: list[FeedRound] = field(default_factory=list)
    teams: list[FeedTeam] = field(default_factory=list)
    # Entries the provider listed but that cannot be ingested yet (e.g. a
    # knockout slot whose teams are not known), each with a readable reason.
    skipped: list[str] = field(default_factory=list)
    # Provider state to keep in the tournament's DataSource.options (the replay's clock).
    state: dict = field(default_factory=dict)


def goals(value, *, where: str) -> int | None:
    """A goal count from a payload: a non-negative integer (or digit string), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadError(f"{where}: expected a goal count, got {value!r}.")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise PayloadError(f"{where}: expected a goal count, got {value!r}.")
    if not 0 <= value <= MAX_GOALS:
        raise PayloadError(f"{where}: goal count {value} is outside 0..{MAX_GOALS}.")
    return value


def score_pair(home, away, *, where: str) -> tuple[int | None, int | None]:
    """Both sides of a score or neither: a half-known score is a malformed payload."""
    h, a = goals(home, where=where), goals(away, where=where)
    if (h is None) != (a is None):
        raise PayloadError(f"{where}: the score has only one side ({home!r}-{away!r}).")
    return h, a


def feed_build(*, name: str, matches: list[FeedMatch], skipped: list[str] | None = None, state: dict | None = None) -> Feed:
    """Validate matches and derive the feed's teams and rounds.

    Rounds are ordered by their first kickoff, so the order is the same on every
    run of the same data (identical input, zero changes).
    """
    name = (name or "").strip()
    if not name:
        raise PayloadError("The payload names no tournament; pass a name in the options.")
    seen: set[str] = set()
    teams: dict[str, FeedTeam] = {}
    first_kickoff: dict[str, tuple[datetime, str]] = {}
    for match in matches:
        where = f"match {match.external_id}"
        if not match.external_id:
            raise PayloadError("A match has no identifier.")
        if match.external_id in seen:
            raise PayloadError(f"{where} appears twice in the payload.")
        seen.add(match.external_id)
        if match.status not in STATUSES:
            raise PayloadError(f"{where}: unknown status {match.status!r}.")
        if match.kickoff_at.tzinfo is None:
            raise PayloadError(f"{where}: kickoff {match.kickoff_at} has no time zone.")
        if not match.round.strip():
            raise PayloadError(f"{where}: the match has no round.")
        for team in (match.home, match.away):
            if not team.key:
                raise PayloadError(f"{where}: a team has no name.")
            known = teams.get(team.key)
            if known is None or (not known.code and team.code):
                teams[team.key] = team
        if match.home.key == match.away.key:
            raise PayloadError(f"{where}: {match.home.name} cannot play itself.")
        for pair in (
            (match.home_score, match.away_score),
            (match.home_score_et, match.away_score_et),
            (match.home_penalties, match.away_penalties),
        ):
            if (pair[0] is None) != (pair[1] is None):
                raise PayloadError(f"{where}: a score has only one side.")
        if match.regular_score_unknown and match.home_score is not None:
            raise PayloadError(f"{where}: a regular-time score given and said to be unknown.")
        round_key = name_key(match.round)
        if round_key not in first_kickoff or match.kickoff_at < first_kickoff[round_key][0]:
            first_kickoff[round_key] = (match.kickoff_at, match.round.strip())
    ordered = sorted(first_kickoff.values(), key=lambda item: (item[0], name_key(item[1])))
    rounds = [FeedRound(name=round_name, order=index + 1) for index, (_, round_name) in enumerate(ordered)]
    return Feed(
        name=name,
        matches=list(matches),
        rounds=rounds,
        teams=sorted(teams.values(), key=lambda t: t.key),
        skipped=list(skipped or []),
        state=dict(state or {}),
    )
