"""A finished tournament (openfootball file) played back as a live feed, time compressed.

The tournament's first kickoff is mapped to the replay's start instant and
every other moment to `start + (t - first_kickoff) / speed`. At a given
instant a match is scheduled before its scaled kickoff, live until its scaled
kickoff plus a scaled two hours, and only then finished with its real result.
The start instant, the speed and the virtual moment reached are returned as
feed state, which the ingestion stores in the tournament's DataSource.options.
A run with the `replay_resume` option (the first tick of `run_replay`)
continues from the moment reached, so a stopped replay pauses rather than
racing ahead; a new speed re-anchors the timeline at the present moment
instead of jumping.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from django.utils import timezone

from apps.ingestion.normalize import FINISHED, LIVE, SCHEDULED, Feed, PayloadError, feed_build
from apps.ingestion.providers.base import Provider
from apps.ingestion.providers.openfootball import openfootball_parse
from apps.ingestion.sources import source_read_json

# A whole World Cup (about 29 days) in about 30 minutes.
DEFAULT_SPEED = 1400.0
# Scheduled time before the first scaled kickoff, so members can guess the opening matches.
DEFAULT_LEAD_SECONDS = 120.0
MATCH_DURATION = timedelta(hours=2)


def _instant(value, *, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise PayloadError(f"Replay option {name} must be an ISO 8601 instant, got {value!r}.") from None
    if parsed.tzinfo is None:
        raise PayloadError(f"Replay option {name} must carry a UTC offset, got {value!r}.")
    return parsed


def _positive(value, *, name: str, default: float) -> float:
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PayloadError(f"Replay option {name} must be a number, got {value!r}.") from None
    if number <= 0 and name == "speed":
        raise PayloadError("Replay speed must be greater than zero.")
    if number < 0:
        raise PayloadError(f"Replay option {name} cannot be negative.")
    return number


class ReplayTimeline:
    """Wall-clock instants of a replayed tournament."""

    def __init__(self, *, origin: datetime, start: datetime, speed: float):
        self.origin, self.start, self.speed = origin, start, speed

    def wall(self, moment: datetime) -> datetime:
        return self.start + (moment - self.origin) / self.speed

    def virtual(self, now: datetime) -> datetime:
        return self.origin + (now - self.start) * self.speed

    def rescaled(self, *, speed: float, now: datetime) -> ReplayTimeline:
        """The same virtual present at `now`, running at `speed` from here on."""
        position = (now - self.start) * self.speed
        return ReplayTimeline(origin=self.origin, start=now - position / speed, speed=speed)


def replay_timeline(*, options: dict, origin: datetime, now: datetime) -> ReplayTimeline:
    speed = _positive(options.get("speed"), name="speed", default=DEFAULT_SPEED)
    start = _instant(options.get("replay_start"), name="replay_start")
    if start is None:
        lead = _positive(options.get("lead_seconds"), name="lead_seconds", default=DEFAULT_LEAD_SECONDS)
        return ReplayTimeline(origin=origin, start=now + timedelta(seconds=lead), speed=speed)
    stored_origin = _instant(options.get("replay_origin"), name="replay_origin") or origin
    stored_speed = _positive(options.get("replay_speed"), name="replay_speed", default=speed)
    timeline = ReplayTimeline(origin=stored_origin, start=start, speed=stored_speed)
    position = _instant(options.get("replay_position"), name="replay_position")
    if options.get("replay_resume") and position is not None:
        # A restarted replay picks up at the virtual moment it had reached, not
        # at wherever the wall clock would have carried it while it was stopped.
        if position < timeline.origin:
            lead = _positive(options.get("lead_seconds"), name="lead_seconds", default=DEFAULT_LEAD_SECONDS)
            return ReplayTimeline(origin=timeline.origin, start=now + timedelta(seconds=lead), speed=speed)
        return ReplayTimeline(origin=timeline.origin, start=now - (position - timeline.origin) / speed, speed=speed)
    if stored_speed != speed:
        timeline = timeline.rescaled(speed=speed, now=now)
    return timeline


def replay_parse(payload, *, options: dict, now: datetime) -> Feed:
    source_name = payload.get("name") if isinstance(payload, dict) else None
    base = openfootball_parse(payload, options={**options, "name": options.get("name") or f"{source_name} (replay)"})
    if not base.matches:
        raise PayloadError("The replay file holds no matches.")
    origin = min(match.kickoff_at for match in base.matches)
    timeline = replay_timeline(options=options, origin=origin, now=now)
    window = MATCH_DURATION / timeline.speed
    matches = []
    for match in base.matches:
        # Exact to the microsecond and a pure function of the stored state, so
        # identical runs produce identical kickoffs (zero changes).
        kickoff = timeline.wall(match.kickoff_at)
        if now < kickoff:
            played = replace(match, kickoff_at=kickoff, status=SCHEDULED, **_NO_SCORE)
        elif now < kickoff + window and match.status == FINISHED:
            played = replace(match, kickoff_at=kickoff, status=LIVE, **_NO_SCORE)
        else:
            played = replace(match, kickoff_at=kickoff)
        matches.append(played)
    state = {
        "replay_start": timeline.start.isoformat(),
        "replay_origin": timeline.origin.isoformat(),
        "replay_speed": timeline.speed,
        "replay_position": timeline.virtual(now).isoformat(),
        "replay_finished_at": timeline.wall(max(m.kickoff_at for m in base.matches) + MATCH_DURATION).isoformat(),
    }
    return feed_build(name=base.name, matches=matches, skipped=base.skipped, state=state)


_NO_SCORE = {
    "home_score": None,
    "away_score": None,
    "home_score_et": None,
    "away_score_et": None,
    "home_penalties": None,
    "away_penalties": None,
}


class ReplayProvider(Provider):
    name = "replay"

    def __init__(self, clock=None):
        self.clock = clock or timezone.now

    def load(self, *, source: str, options: dict) -> object:
        return source_read_json(source=source, provider=self.name)

    def parse(self, payload: object, *, options: dict) -> Feed:
        return replay_parse(payload, options=options, now=self.clock())
