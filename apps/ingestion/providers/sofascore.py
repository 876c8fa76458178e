"""SofaScore event JSON, read from a file or URL (no browser automation).

The payload is a list of event objects or {"events": [...]}. An event carries
homeTeam/awayTeam {name, nameCode}, homeScore/awayScore {current, normaltime,
extra1, extra2, penalties}, status {type, code}, startTimestamp (Unix seconds)
and roundInfo {round, name}. `current` is the running score and, after extra
time, includes it; `normaltime` is the score after regular time; extra1 and
extra2 hold the goals of each extra-time half.
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
# Finished after extra time (110) or after penalties (120).
AFTER_EXTRA_TIME = {110, 120}


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


def _scores(home: dict, away: dict, *, status: str, code, where: str) -> dict:
    def both(key):
        h, a = home.get(key), away.get(key)
        if (h is None) != (a is None):
            raise PayloadError(f"{where}: {key} score has only one side.")
        return h, a

    current, normal = both("current"), both("normaltime")
    extra1, extra2, pens = both("extra1"), both("extra2"), both("penalties")
    played_extra = extra1[0] is not None or extra2[0] is not None or code in AFTER_EXTRA_TIME
    extra = (sum(v or 0 for v in (extra1[0], extra2[0])), sum(v or 0 for v in (extra1[1], extra2[1])))
    if status in (SCHEDULED, POSTPONED):
        return {}
    regular = normal
    if regular[0] is None and current[0] is not None:
        regular = current
        if played_extra and status == FINISHED:
            regular = (current[0] - extra[0], current[1] - extra[1])
            if regular[0] < 0 or regular[1] < 0:
                raise PayloadError(f"{where}: current score is smaller than the extra-time goals.")
    result = {"home_score": regular[0], "away_score": regular[1]}
    if played_extra and regular[0] is not None:
        result["home_score_et"], result["away_score_et"] = regular[0] + extra[0], regular[1] + extra[1]
    if pens[0] is not None:
        result["home_penalties"], result["away_penalties"] = pens
    return result


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
