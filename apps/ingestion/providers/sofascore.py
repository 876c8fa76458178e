"""SofaScore event JSON, read from a file or URL (no browser automation).

The payload is a list of event objects or {"events": [...]}. An event carries
homeTeam/awayTeam {name, nameCode}, homeScore/awayScore {current, normaltime,
extra1, extra2, penalties}, status {type, code}, startTimestamp (Unix seconds)
and roundInfo {round, name}. `current` is the running score and, once extra
time started, includes it; `normaltime` is the score after regular time;
period1/period2 and extra1/extra2 hold the goals of each half of regular and
extra time, penalties those of the shoot-out.

What a match gets (the same in play and finished):
- During regular time the regular-time score is `current` (else period1 plus
  period2); a finished match without extra time takes `normaltime` first.
- Once extra time started (extra1/extra2 given, or a status code of extra time,
  the shoot-out or their breaks), the regular-time score is `normaltime`, else
  period1 plus period2, else `current` less extra1 and extra2 on a finished
  match, else unknown: the match keeps the one recorded while regular time was
  played. The extra-time score is the regular-time score plus extra1 and
  extra2, else `current` less shoot-out goals when it counts them.
"""

from __future__ import annotations

from datetime import datetime, timezone

from apps.ingestion.normalize import ABANDONED, CANCELLED, FINISHED, LIVE, POSTPONED, SCHEDULED
from apps.ingestion.normalize import Feed, FeedMatch, FeedTeam, PayloadError, feed_build, goals
from apps.ingestion.providers.base import Provider
from apps.ingestion.sources import source_read_json

TYPES = {
    "notstarted": SCHEDULED,
    "delayed": SCHEDULED,
    "inprogress": LIVE,
    "interrupted": LIVE,
    "willcontinue": LIVE,
    "finished": FINISHED,
    "postponed": POSTPONED,
    "canceled": CANCELLED,
    "cancelled": CANCELLED,
    "abandoned": ABANDONED,
    "suspended": ABANDONED,
    "removed": CANCELLED,
}
# Status codes that say more than the type: 60 postponed, 70 canceled, 90 abandoned.
CODES = {60: POSTPONED, 70: CANCELLED, 90: ABANDONED}
# Extra time started: extra-time halftime (33), awaiting penalties (34), first
# and second half of extra time (41, 42), shoot-out (50), and finished after
# extra time (110) or after penalties (120).
EXTRA_TIME_CODES = {33, 34, 41, 42, 50, 110, 120}


def _team(raw, *, where: str) -> FeedTeam:
    if not isinstance(raw, dict) or not raw.get("name"):
        raise PayloadError(f"{where}: a team must be an object with a name, got {raw!r}.")
    return FeedTeam(name=str(raw["name"]).strip(), code=str(raw.get("nameCode") or "").strip()[:8])


def _side(raw, *, where: str) -> dict:
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        raise PayloadError(f"{where}: a score must be an object, got {raw!r}.")
    return {key: goals(raw.get(key), where=f"{where} {key}") for key in raw if key in _SCORE_KEYS}


_SCORE_KEYS = {"current", "display", "normaltime", "extra1", "extra2", "overtime", "penalties", "period1", "period2"}


def _plus(*pairs: tuple) -> tuple:
    """The sum of score pairs, or (None, None) when the first is unknown; later unknown pairs add nothing."""
    if pairs[0][0] is None:
        return None, None
    return sum(p[0] or 0 for p in pairs), sum(p[1] or 0 for p in pairs)


def _scores(home: dict, away: dict, *, status: str, code, where: str) -> dict:
    """The FeedMatch score fields of one event's homeScore and awayScore (see the module docstring)."""

    def both(key):
        h, a = home.get(key), away.get(key)
        if (h is None) != (a is None):
            raise PayloadError(f"{where}: {key} score has only one side.")
        return h, a

    if status in (SCHEDULED, POSTPONED):
        return {}
    current, normal = both("current"), both("normaltime")
    period1, period2 = both("period1"), both("period2")
    extra1, extra2, pens = both("extra1"), both("extra2"), both("penalties")
    halves = _plus(period1, period2) if period2[0] is not None else (None, None)
    extra = _plus(extra1, extra2) if extra1[0] is not None or extra2[0] is not None else (None, None)
    result: dict = {"home_penalties": pens[0], "away_penalties": pens[1]}
    if extra[0] is None and code not in EXTRA_TIME_CODES:
        if status == FINISHED and normal[0] is not None:
            regular = normal
        elif current[0] is not None:
            regular = current
        else:
            regular = _plus(period1, period2)
        return {**result, "home_score": regular[0], "away_score": regular[1]}

    regular = normal if normal[0] is not None else halves
    if regular[0] is None and status == FINISHED and current[0] is not None and extra[0] is not None:
        regular = (current[0] - extra[0], current[1] - extra[1])
        if regular[0] < 0 or regular[1] < 0:
            raise PayloadError(f"{where}: current score is smaller than the extra-time goals.")
    if regular[0] is not None and extra[0] is not None:
        # Each period holds its own goals, never the shoot-out's.
        running = _plus(regular, extra)
    elif current[0] is not None:
        running = current
        if pens[0] is not None and regular[0] is not None:
            less = (current[0] - pens[0], current[1] - pens[1])
            # Recorded events give `current` without shoot-out goals; a
            # provider that counts them in shows more than regular time plus them.
            if less[0] >= regular[0] and less[1] >= regular[1]:
                running = less
    else:
        running = regular
    result.update(home_score_et=running[0], away_score_et=running[1])
    if regular[0] is None:
        return {**result, "regular_score_unknown": True}
    return {**result, "home_score": regular[0], "away_score": regular[1]}


def _round_name(raw) -> str:
    info = raw if isinstance(raw, dict) else {}
    if info.get("name"):
        return str(info["name"]).strip()
    if info.get("round") not in (None, ""):
        return f"Matchday {info['round']}"
    return "Matches"


def _tournament_name(event: dict) -> str:
    season = event.get("season") if isinstance(event.get("season"), dict) else {}
    if season.get("name"):
        return str(season["name"])
    tournament = event.get("tournament") if isinstance(event.get("tournament"), dict) else {}
    unique = tournament.get("uniqueTournament") if isinstance(tournament.get("uniqueTournament"), dict) else {}
    return str(unique.get("name") or tournament.get("name") or "")


def sofascore_parse(payload, *, options: dict) -> Feed:
    events = payload.get("events") if isinstance(payload, dict) else payload
    if not isinstance(events, list):
        raise PayloadError("SofaScore: expected a list of events or an object with an 'events' list.")
    name = options.get("name") or (_tournament_name(events[0]) if events and isinstance(events[0], dict) else "")
    matches = []
    for index, event in enumerate(events):
        if not isinstance(event, dict) or event.get("id") in (None, ""):
            raise PayloadError(f"SofaScore: events[{index}] has no id.")
        where = f"event {event['id']}"
        status_info = event.get("status") if isinstance(event.get("status"), dict) else {}
        code = status_info.get("code")
        status = CODES.get(code) or TYPES.get(str(status_info.get("type") or "").lower())
        if status is None:
            raise PayloadError(f"{where}: unknown status {status_info!r}.")
        timestamp = event.get("startTimestamp")
        if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
            raise PayloadError(f"{where}: startTimestamp must be Unix seconds, got {timestamp!r}.")
        scores = _scores(
            _side(event.get("homeScore"), where=f"{where} homeScore"),
            _side(event.get("awayScore"), where=f"{where} awayScore"),
            status=status,
            code=code,
            where=where,
        )
        matches.append(
            FeedMatch(
                external_id=str(event["id"]),
                round=_round_name(event.get("roundInfo")),
                home=_team(event.get("homeTeam"), where=where),
                away=_team(event.get("awayTeam"), where=where),
                kickoff_at=datetime.fromtimestamp(timestamp, tz=timezone.utc),
                status=status,
                **scores,
            )
        )
    return feed_build(name=name, matches=matches)


class SofascoreProvider(Provider):
    name = "sofascore"

    def load(self, *, source: str, options: dict) -> object:
        return source_read_json(source=source, provider=self.name)

    def parse(self, payload: object, *, options: dict) -> Feed:
        return sofascore_parse(payload, options=options)
