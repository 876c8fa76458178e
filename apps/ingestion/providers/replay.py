"""A finished tournament (openfootball file) played back as a live feed, time compressed.

The tournament's first kickoff is mapped to the replay's start instant and
every other moment to `start + (t - first_kickoff) / speed`. At a given
instant a match is scheduled before its scaled kickoff, then live at 0-0, and
its score moves at each goal's scaled minute (minute plus stoppage offset) as
a feed in play would move it: goals up to minute 90 move the regular-time
score, which then holds; once extra time starts the extra-time score runs
from it. A scaled two hours after kickoff (two and a half when the match went
to extra time or penalties) the match is finished with its real result, penalties
included. A match whose goals are not listed, or listed in a way that does not
add up to its result, stays 0-0 until it finishes.

Everything is a pure function of the file and the virtual moment, so a
replay can stop and resume anywhere. The start instant, the speed, the
virtual moment reached and the next instant something changes are returned as
feed state, which the ingestion stores in the tournament's DataSource.options.
A run with the `replay_resume` option (the first tick of `run_replay`)
continues from the moment reached, so a stopped replay pauses rather than
racing ahead; a new speed re-anchors the timeline at the present moment
instead of jumping.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from itertools import accumulate

from django.utils import timezone

from apps.ingestion.normalize import FINISHED, LIVE, SCHEDULED, Feed, FeedMatch, PayloadError, feed_build
from apps.ingestion.providers.base import Provider
from apps.ingestion.providers.openfootball import Goal, openfootball_goals, openfootball_read
from apps.ingestion.sources import source_read_json

# A whole World Cup (about 29 days) in about 30 minutes.
DEFAULT_SPEED = 1400.0
# Scheduled time before the first scaled kickoff, so members can guess the opening matches.
DEFAULT_LEAD_SECONDS = 120.0
# From kickoff to the final whistle: a match decided in regular time, one that went to extra time.
MATCH_DURATION = timedelta(hours=2)
EXTRA_TIME_MATCH_DURATION = timedelta(hours=2, minutes=30)
# Extra time starts after the 90th minute, or after the last regular-time goal
# when that came later (stoppage time).
EXTRA_TIME_STARTS = timedelta(minutes=90)


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


# A state of a match being replayed: (virtual time since kickoff, FeedMatch fields from then on).
Moment = tuple[timedelta, dict]


def _goals_add_up(match: FeedMatch, goals: list[Goal]) -> bool:
    """Whether the goal list gives the match's result: regular-time goals its score, all its extra-time score."""
    def count(listed: list[Goal]) -> tuple[int, int]:
        return sum(goal.home for goal in listed), sum(not goal.home for goal in listed)

    regular = count([goal for goal in goals if not goal.in_extra_time])
    every = count(goals)
    after_extra_time = (match.home_score_et, match.away_score_et)
    if after_extra_time[0] is None:
        return regular == every == (match.home_score, match.away_score)
    return regular == (match.home_score, match.away_score) and every == after_extra_time


def _moments(match: FeedMatch, goals: list[Goal] | None) -> list[Moment]:
    """The states a finished match goes through from kickoff to its final whistle, in order."""
    extra_time = match.home_score_et is not None
    # A shoot-out straight after 90 minutes (no extra time) takes the longer slot too.
    duration = EXTRA_TIME_MATCH_DURATION if extra_time or match.home_penalties is not None else MATCH_DURATION
    state = {**_NO_SCORE, "status": LIVE, "home_score": 0, "away_score": 0}
    moments: list[Moment] = [(timedelta(0), dict(state))]

    def extra_time_start() -> None:
        # The extra-time score starts from the regular-time one, which holds from here on.
        state.update(home_score_et=state["home_score"], away_score_et=state["away_score"])
        moments.append((max(EXTRA_TIME_STARTS, moments[-1][0]), dict(state)))

    if goals is not None and _goals_add_up(match, goals):
        # Minute plus offset orders goals within a half; across phases a long
        # stoppage (90+11) can outlast the first minutes of the next one, so
        # time never runs back: each goal comes no earlier than the one before.
        minutes = accumulate((goal.minute + goal.offset for goal in goals), max)
        for goal, minute in zip(goals, minutes):
            side = "home" if goal.home else "away"
            if goal.in_extra_time:
                if state["home_score_et"] is None:
                    extra_time_start()
                state[f"{side}_score_et"] += 1
            else:
                state[f"{side}_score"] += 1
            moments.append((timedelta(minutes=minute), dict(state)))
        if extra_time and state["home_score_et"] is None:
            extra_time_start()
    final = {field: getattr(match, field) for field in _NO_SCORE}
    moments.append((max(duration, moments[-1][0] + timedelta(minutes=1)), {**final, "status": FINISHED}))
    return moments


def replay_parse(payload, *, options: dict, now: datetime) -> Feed:
    source_name = payload.get("name") if isinstance(payload, dict) else None
    base, entries = openfootball_read(
        payload, options={**options, "name": options.get("name") or f"{source_name} (replay)"}
    )
    if not base.matches:
        raise PayloadError("The replay file holds no matches.")
    origin = min(match.kickoff_at for match in base.matches)
    timeline = replay_timeline(options=options, origin=origin, now=now)
    matches, ends, upcoming = [], [], []
    for match in base.matches:
        # Exact to the microsecond and a pure function of the stored state, so
        # identical runs produce identical kickoffs (zero changes).
        kickoff = timeline.wall(match.kickoff_at)
        if match.status != FINISHED:
            # Postponed, cancelled or never played: as the file says from its kickoff on.
            moments = [(timedelta(0), {})]
        else:
            goals = openfootball_goals(entries[match.external_id], where=f"match {match.external_id}")
            moments = _moments(match, goals)
        instants = [timeline.wall(match.kickoff_at + offset) for offset, _ in moments]
        ends.append(instants[-1])
        upcoming.extend(instant for instant in instants if instant > now)
        if now < kickoff:
            matches.append(replace(match, kickoff_at=kickoff, status=SCHEDULED, **_NO_SCORE))
            continue
        reached = [fields for instant, (_, fields) in zip(instants, moments) if instant <= now]
        matches.append(replace(match, kickoff_at=kickoff, **reached[-1]))
    state = {
        "replay_start": timeline.start.isoformat(),
        "replay_origin": timeline.origin.isoformat(),
        "replay_speed": timeline.speed,
        "replay_position": timeline.virtual(now).isoformat(),
        "replay_finished_at": max(ends).isoformat(),
        # When the next kickoff, goal or final whistle is due: run_replay sleeps until then.
        "replay_next_at": min(upcoming).isoformat() if upcoming else None,
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
