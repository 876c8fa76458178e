"""openfootball JSON (github.com/openfootball/worldcup.json and friends).

Two layouts exist in the wild and both are read:
- flat: {"name", "matches": [{"round", "date", "time", "team1": "Qatar", "team2": ..., "score": {...}}]}
- rounds: {"name", "rounds": [{"name", "matches": [{"date", "team1": {"name", "code"}, ...}]}]}
Times carry an offset ("13:00 UTC-6") or none, and then the tournament's time
zone applies. Scores hold any of ft, et, p, ht, or nothing before the match is
played; older files use score1/score2, score1et/score2et, score1p/score2p.
openfootball has no match ids, so one is derived: the match number ("num")
when present, else round and teams, both prefixed by the tournament's name.
Played matches may list their goals in goals1/goals2 ({"name", "minute",
"offset", "penalty", "owngoal"}, an own goal under the side it counted for;
newer files spell stoppage time in the minute, "90+3"); only the replay reads
them, to play each goal at its minute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apps.ingestion.normalize import (
    ABANDONED,
    CANCELLED,
    FINISHED,
    POSTPONED,
    SCHEDULED,
    Feed,
    FeedMatch,
    FeedTeam,
    PayloadError,
    feed_build,
    score_pair,
    slug_key,
)
from apps.ingestion.providers.base import Provider
from apps.ingestion.sources import source_read_json

_TIME = re.compile(
    r"^\s*(?P<h>\d{1,2})[:.](?P<m>\d{2})"
    r"(?:\s*(?:UTC|GMT)\s*(?:(?P<sign>[+-])\s*(?P<oh>\d{1,2})(?::?(?P<om>\d{2}))?)?)?\s*$",
    re.IGNORECASE,
)
# Knockout slots before the draw resolves them: "1A", "2B", "3A/B/C/D/F", "W73", "L101".
_PLACEHOLDER = re.compile(r"^(?:[123][A-L](?:/[A-L])*|[WL]\s?\d{1,3})$")
_STATUSES = {
    "postponed": POSTPONED,
    "cancelled": CANCELLED,
    "canceled": CANCELLED,
    "abandoned": ABANDONED,
    "awarded": FINISHED,
}


def time_zone_get(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise PayloadError(f"Unknown time zone {name!r}; use an IANA name such as 'Asia/Qatar'.") from None


def kickoff_parse(raw_date, raw_time, *, tz: ZoneInfo, where: str) -> datetime:
    """A kickoff in UTC from openfootball's date and optional "HH:MM [UTC±H]"."""
    try:
        day = date.fromisoformat(str(raw_date))
    except (TypeError, ValueError):
        raise PayloadError(f"{where}: invalid date {raw_date!r}.") from None
    if raw_time in (None, ""):
        return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(timezone.utc)
    found = _TIME.match(str(raw_time))
    if not found or int(found["h"]) > 23 or int(found["m"]) > 59:
        raise PayloadError(f"{where}: invalid time {raw_time!r}.")
    clock = time(int(found["h"]), int(found["m"]))
    if "UTC" in str(raw_time).upper() or "GMT" in str(raw_time).upper():
        offset = timedelta(hours=int(found["oh"] or 0), minutes=int(found["om"] or 0))
        zone = timezone(-offset if found["sign"] == "-" else offset)
        return datetime.combine(day, clock, tzinfo=zone).astimezone(timezone.utc)
    return datetime.combine(day, clock, tzinfo=tz).astimezone(timezone.utc)


def _team(raw, *, where: str) -> FeedTeam:
    if isinstance(raw, str):
        return FeedTeam(name=raw.strip())
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        return FeedTeam(name=raw["name"].strip(), code=str(raw.get("code") or "").strip()[:8])
    raise PayloadError(f"{where}: a team must be a name or a {{name, code}} object, got {raw!r}.")


def _pair(score: dict, key: str, *, where: str) -> tuple[int | None, int | None]:
    value = score.get(key)
    if value is None:
        return None, None
    if not isinstance(value, list) or len(value) != 2:
        raise PayloadError(f"{where}: score.{key} must be a [home, away] pair, got {value!r}.")
    return score_pair(value[0], value[1], where=f"{where} score.{key}")


def _scores(raw: dict, *, where: str) -> dict:
    score = raw.get("score")
    if score is None or score == {}:
        # Older files spell scores as flat fields.
        ft = score_pair(raw.get("score1"), raw.get("score2"), where=where)
        et = score_pair(raw.get("score1et"), raw.get("score2et"), where=where)
        pens = score_pair(raw.get("score1p"), raw.get("score2p"), where=where)
    elif isinstance(score, dict):
        ft, et, pens = (_pair(score, key, where=where) for key in ("ft", "et", "p"))
    else:
        raise PayloadError(f"{where}: score must be an object, got {score!r}.")
    if ft[0] is None and (et[0] is not None or pens[0] is not None):
        raise PayloadError(f"{where}: extra time or penalties without a full-time score.")
    return {
        "home_score": ft[0],
        "away_score": ft[1],
        "home_score_et": et[0],
        "away_score_et": et[1],
        "home_penalties": pens[0],
        "away_penalties": pens[1],
    }


def _entries(payload) -> list[tuple[str | None, dict]]:
    if not isinstance(payload, dict):
        raise PayloadError("openfootball: expected a JSON object with a 'matches' or 'rounds' list.")
    if isinstance(payload.get("matches"), list):
        return [(None, m) for m in payload["matches"]]
    if isinstance(payload.get("rounds"), list):
        entries = []
        for index, round_ in enumerate(payload["rounds"]):
            if not isinstance(round_, dict) or not isinstance(round_.get("matches"), list):
                raise PayloadError(f"openfootball: rounds[{index}] must be an object with a 'matches' list.")
            entries.extend((str(round_.get("name") or ""), m) for m in round_["matches"])
        return entries
    raise PayloadError("openfootball: expected a JSON object with a 'matches' or 'rounds' list.")


@dataclass(frozen=True)
class Goal:
    """One goal of a match: its minute of play (91-120 in extra time), stoppage minutes, and the side it counted for."""

    minute: int
    offset: int
    home: bool

    @property
    def in_extra_time(self) -> bool:
        return self.minute > 90


_MINUTE = re.compile(r"^\s*(?P<minute>\d{1,3})\s*(?:\+\s*(?P<offset>\d{1,2}))?\s*'?\s*$")


def _goal(raw, *, home: bool, where: str) -> Goal:
    if not isinstance(raw, dict):
        raise PayloadError(f"{where}: a goal must be an object, got {raw!r}.")
    minute = raw.get("minute")
    found = None if isinstance(minute, bool) else _MINUTE.match(str(minute))
    if found is None or not 1 <= int(found["minute"]) <= 120:
        raise PayloadError(f"{where}: a goal's minute must be 1..120 (or like 90+3), got {minute!r}.")
    offset = raw.get("offset", found["offset"])
    if offset in (None, ""):
        offset = 0
    if isinstance(offset, bool) or not str(offset).isdigit() or int(offset) > 30:
        raise PayloadError(f"{where}: a goal's stoppage-time offset must be 0..30, got {offset!r}.")
    return Goal(minute=int(found["minute"]), offset=int(offset), home=home)


def openfootball_goals(raw: dict, *, where: str) -> list[Goal] | None:
    """The match's goals in the order they were scored, or None when it lists none (neither goals1 nor goals2)."""
    if raw.get("goals1") is None and raw.get("goals2") is None:
        return None
    goals = []
    for key, home in (("goals1", True), ("goals2", False)):
        listed = raw.get(key) or []
        if not isinstance(listed, list):
            raise PayloadError(f"{where}: {key} must be a list, got {listed!r}.")
        goals.extend(_goal(item, home=home, where=f"{where} {key}") for item in listed)
    return sorted(goals, key=lambda goal: (goal.minute, goal.offset))


def openfootball_parse(payload, *, options: dict) -> Feed:
    return openfootball_read(payload, options=options)[0]


def openfootball_read(payload, *, options: dict) -> tuple[Feed, dict[str, dict]]:
    """The feed, and each ingested match's entry in the file by external id (for what a Feed does not carry)."""
    tz = time_zone_get(options.get("time_zone") or "UTC")
    name = options.get("name") or (payload.get("name") if isinstance(payload, dict) else None) or ""
    prefix = slug_key((payload.get("name") if isinstance(payload, dict) else None) or "openfootball")
    matches, skipped, entries = [], [], {}
    for index, (round_name, raw) in enumerate(_entries(payload)):
        where = f"match #{index + 1}"
        if not isinstance(raw, dict):
            raise PayloadError(f"{where}: expected an object, got {raw!r}.")
        round_name = str(raw.get("round") or round_name or "").strip()
        if not round_name:
            raise PayloadError(f"{where}: the match has no round.")
        home = _team(raw.get("team1"), where=where)
        away = _team(raw.get("team2"), where=where)
        where = f"{where} ({round_name}: {home.name} - {away.name})"
        if _PLACEHOLDER.match(home.name) or _PLACEHOLDER.match(away.name):
            skipped.append(f"{where}: teams not known yet.")
            continue
        kickoff = kickoff_parse(raw.get("date"), raw.get("time"), tz=tz, where=where)
        scores = _scores(raw, where=where)
        status = FINISHED if scores["home_score"] is not None else SCHEDULED
        declared = str(raw.get("status") or "").strip().lower()
        if declared in _STATUSES:
            status = _STATUSES[declared]
        num = raw.get("num")
        external_id = (
            f"{prefix}:{num}"
            if num not in (None, "")
            else f"{prefix}:{slug_key(round_name)}:{slug_key(home.name)}:{slug_key(away.name)}"
        )
        matches.append(
            FeedMatch(
                external_id=external_id,
                round=round_name,
                home=home,
                away=away,
                kickoff_at=kickoff,
                status=status,
                **scores,
            )
        )
        entries[external_id] = raw
    return feed_build(name=name, matches=matches, skipped=skipped), entries


class OpenfootballProvider(Provider):
    name = "openfootball"

    def load(self, *, source: str, options: dict) -> object:
        return source_read_json(source=source, provider=self.name)

    def parse(self, payload: object, *, options: dict) -> Feed:
        return openfootball_parse(payload, options=options)
