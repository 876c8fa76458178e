"""football-data.org API v4: GET {FOOTBALL_DATA_BASE_URL}/v4/competitions/{code}/matches.

The source is a competition code ("WC", "EC", "PL") or a full URL. The token
comes from FOOTBALL_DATA_TOKEN and travels in X-Auth-Token.

Scores (docs.football-data.org "Dealing with scores"): fullTime is the running
score and, once extra time or a shoot-out started, includes those goals;
regularTime, extraTime and penalties each hold only their own period's goals
and may be missing while the match is played. `score.duration` says which
periods were reached (REGULAR, EXTRA_TIME, PENALTY_SHOOTOUT).

What a match gets (the same in play and finished):
- REGULAR: the regular-time score is regularTime, else fullTime (running).
- EXTRA_TIME / PENALTY_SHOOTOUT: the regular-time score is regularTime, else
  fullTime less extraTime and penalties when extraTime is given, else unknown:
  the match keeps the one recorded while regular time was played. The
  extra-time score is the running score less shoot-out goals (fullTime less
  penalties, else regularTime plus extraTime).
"""

from __future__ import annotations

from datetime import datetime, timezone

from django.conf import settings

from apps.ingestion.normalize import ABANDONED, CANCELLED, FINISHED, LIVE, POSTPONED, SCHEDULED
from apps.ingestion.normalize import Feed, FeedMatch, FeedTeam, PayloadError, feed_build, score_pair
from apps.ingestion.providers.base import Provider
from apps.ingestion.sources import http_get_json, is_url, source_read_json

STATUSES = {
    "SCHEDULED": SCHEDULED,
    "TIMED": SCHEDULED,
    "IN_PLAY": LIVE,
    "PAUSED": LIVE,
    "LIVE": LIVE,
    "FINISHED": FINISHED,
    "AWARDED": FINISHED,
    "SUSPENDED": ABANDONED,
    "POSTPONED": POSTPONED,
    "CANCELLED": CANCELLED,
}
STAGES = {
    "LAST_64": "Round of 64",
    "LAST_32": "Round of 32",
    "ROUND_OF_32": "Round of 32",
    "LAST_16": "Round of 16",
    "ROUND_OF_16": "Round of 16",
    "QUARTER_FINALS": "Quarter-finals",
    "SEMI_FINALS": "Semi-finals",
    "THIRD_PLACE": "Match for third place",
    "FINAL": "Final",
    "PLAYOFFS": "Play-offs",
}


def _pair(score: dict, key: str, *, where: str) -> tuple[int | None, int | None]:
    value = score.get(key)
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise PayloadError(f"{where}: score.{key} must be an object, got {value!r}.")
    return score_pair(value.get("home"), value.get("away"), where=f"{where} score.{key}")


EXTRA_DURATIONS = ("EXTRA_TIME", "PENALTY_SHOOTOUT")


def _less(total: tuple, *parts: tuple, where: str) -> tuple[int, int]:
    home, away = total
    for part in parts:
        if part[0] is not None:
            home, away = home - part[0], away - part[1]
    if home < 0 or away < 0:
        raise PayloadError(f"{where}: fullTime is smaller than extra time plus penalties.")
    return home, away


def _scores(score: dict, *, status: str, where: str) -> dict:
    """The FeedMatch score fields of one `score` object (see the module docstring)."""
    if status in (SCHEDULED, POSTPONED):
        return {}
    full = _pair(score, "fullTime", where=where)
    regular = _pair(score, "regularTime", where=where)
    extra = _pair(score, "extraTime", where=where)
    pens = _pair(score, "penalties", where=where)
    result: dict = {"home_penalties": pens[0], "away_penalties": pens[1]}
    if score.get("duration") not in EXTRA_DURATIONS:
        regular = regular if regular[0] is not None else full
        return {**result, "home_score": regular[0], "away_score": regular[1]}
    if regular[0] is None and extra[0] is not None and full[0] is not None:
        regular = _less(full, extra, pens, where=where)
    if full[0] is not None:
        running = _less(full, pens, where=where)
    elif regular[0] is not None and extra[0] is not None:
        running = (regular[0] + extra[0], regular[1] + extra[1])
    else:
        running = (None, None)
    result.update(home_score_et=running[0], away_score_et=running[1])
    if regular[0] is None:
        # fullTime alone in extra time: it counts extra-time goals, so it
        # cannot be the regular-time score; the match keeps the stored one.
        return {**result, "regular_score_unknown": True}
    return {**result, "home_score": regular[0], "away_score": regular[1]}


def _round_name(raw: dict) -> str:
    stage = str(raw.get("stage") or "")
    if stage in STAGES:
        return STAGES[stage]
    matchday = raw.get("matchday")
    if matchday not in (None, ""):
        return f"Matchday {matchday}"
    return stage.replace("_", " ").capitalize() or "Matches"


def _team(raw, *, where: str) -> FeedTeam | None:
    if not isinstance(raw, dict):
        raise PayloadError(f"{where}: a team must be an object, got {raw!r}.")
    name = raw.get("name")
    if not name:
        return None
    return FeedTeam(name=str(name).strip(), code=str(raw.get("tla") or "").strip()[:8])


def _kickoff(raw, *, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{where}: invalid utcDate {raw!r}.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _competition_name(competition: dict, matches: list) -> str:
    """"FIFA World Cup 2022": the competition plus its season's first year, so seasons do not merge."""
    name = str(competition.get("name") or "").strip()
    first = matches[0] if matches and isinstance(matches[0], dict) else {}
    season = first.get("season") if isinstance(first.get("season"), dict) else {}
    year = str(season.get("startDate") or "")[:4]
    return f"{name} {year}" if name and year else name


def football_data_parse(payload, *, options: dict) -> Feed:
    if not isinstance(payload, dict) or not isinstance(payload.get("matches"), list):
        raise PayloadError("football-data.org: expected a JSON object with a 'matches' list.")
    competition = payload.get("competition") if isinstance(payload.get("competition"), dict) else {}
    name = options.get("name") or _competition_name(competition, payload["matches"])
    matches, skipped = [], []
    for index, raw in enumerate(payload["matches"]):
        if not isinstance(raw, dict) or raw.get("id") in (None, ""):
            raise PayloadError(f"football-data.org: matches[{index}] has no id.")
        where = f"match {raw['id']}"
        status = STATUSES.get(str(raw.get("status")))
        if status is None:
            raise PayloadError(f"{where}: unknown status {raw.get('status')!r}.")
        home, away = _team(raw.get("homeTeam"), where=where), _team(raw.get("awayTeam"), where=where)
        if home is None or away is None:
            skipped.append(f"{where}: teams not known yet.")
            continue
        score = raw.get("score") or {}
        if not isinstance(score, dict):
            raise PayloadError(f"{where}: score must be an object.")
        scores = _scores(score, status=status, where=where)
        matches.append(
            FeedMatch(
                external_id=str(raw["id"]),
                round=_round_name(raw),
                home=home,
                away=away,
                kickoff_at=_kickoff(raw.get("utcDate"), where=where),
                status=status,
                **scores,
            )
        )
    return feed_build(name=name, matches=matches, skipped=skipped)


class FootballDataProvider(Provider):
    name = "football-data"

    def load(self, *, source: str, options: dict) -> object:
        headers = {}
        if settings.FOOTBALL_DATA_TOKEN:
            headers["X-Auth-Token"] = settings.FOOTBALL_DATA_TOKEN
        if is_url(source) or "/" in source or source.endswith(".json"):
            if is_url(source):
                return http_get_json(url=source, provider=self.name, headers=headers)
            return source_read_json(source=source, provider=self.name)
        code = source.strip().upper()
        base = settings.FOOTBALL_DATA_BASE_URL.rstrip("/")
        params = {"season": options["season"]} if options.get("season") else None
        return http_get_json(
            url=f"{base}/v4/competitions/{code}/matches", provider=self.name, headers=headers, params=params
        )

    def parse(self, payload: object, *, options: dict) -> Feed:
        return football_data_parse(payload, options=options)
