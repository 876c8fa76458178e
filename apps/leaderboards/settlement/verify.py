"""The standing invariant of SCORING.md, checked set-based in the database and against Redis.

Expected totals are derived the way settlement applies them: each guess scored
by the request that holds its match (the last done one; for a request stopped
half-way, its own scoring up to its cursor and the previous one beyond), plus
applied score-action awards, plus the points of bonus answers, each by the
request that holds its question in the same way. Nothing here is stored per
guess or answer.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection

from apps.guesses.models import Guess
from apps.leaderboards.models import (
    ROUND_EARNED_SQL,
    QuestionSettlementRequest,
    RoundStanding,
    ScoreActionAward,
    SettlementRequest,
    Standing,
)
from apps.leaderboards.boards.keys import BoardKey, leagues_ready_key, ready_key
from apps.leaderboards.boards.projection_read import projection_enabled, redis_client, zscore_split
from apps.leaderboards.boards.projection_write import round_ids_with_rows
from apps.leaderboards.settlement.question_sql import AppliedAnswer, answer_points_sql
from apps.leaderboards.settlement.sql import MOVED, ZERO, Applied, score_sql
from apps.leagues.models import League, LeagueMembership
from apps.matches.models import BonusAnswer, Match

DIFFERENCE_LIMIT = 100
STREAM_CHUNK = 10_000
COLUMNS = MOVED


@dataclass(frozen=True)
class Difference:
    board: str
    member_id: int
    expected: tuple
    actual: tuple

    def __str__(self) -> str:
        return f"{self.board} member {self.member_id}: expected {self.expected}, found {self.actual}"


def _held_states(model, subject: str, applied_of, tournament_id: int) -> list[tuple]:
    """Per subject (match or question) with anything applied: (subject id, held, previous, cursor).

    The request holding the subject is one stopped half-way (its own result up
    to its cursor, the previous one beyond: cursor set), else the last one done
    (cursor None: whole). `applied_of` turns a request into what it applies.
    """
    states = []
    subject_ids = (
        model.objects.filter(**{f"{subject}__tournament_id": tournament_id})
        .order_by()
        .values_list(f"{subject}_id", flat=True)
        .distinct()
    )
    for subject_id in subject_ids:
        requests = model.objects.filter(**{f"{subject}_id": subject_id}).select_related("base")
        half = (
            requests.filter(started_at__isnull=False)
            .exclude(status__in=[model.Status.DONE, model.Status.SUPERSEDED])
            .order_by("id")
            .first()
        )
        if half is not None:
            states.append((subject_id, applied_of(half), applied_of(half.base), half.cursor))
            continue
        done = requests.filter(status=model.Status.DONE).order_by("-finished_at", "-id").first()
        if done is not None and done.applies_points:
            states.append((subject_id, applied_of(done), None, None))
    return states


def _match_states(tournament_id: int) -> list[tuple[int, Applied | None, Applied | None, int | None]]:
    return _held_states(SettlementRequest, "match", Applied.of_request, tournament_id)


def _question_states(tournament_id: int) -> list[tuple[int, AppliedAnswer | None, AppliedAnswer | None, int | None]]:
    return _held_states(QuestionSettlementRequest, "question", AppliedAnswer.of_request, tournament_id)


def _answer_terms(states) -> tuple[list[str], list]:
    """One SELECT per question giving (member_id, points, 0, 0, 0) of its answers: points only."""
    selects, params = [], []
    for question_id, held, previous, cursor in states:
        now, before = answer_points_sql(held), answer_points_sql(previous)
        points = now if cursor is None else f"CASE WHEN a.member_id <= {int(cursor)} THEN {now} ELSE {before} END"
        if points == "0":
            continue
        selects.append(
            f"SELECT a.member_id, {points}, 0, 0, 0 FROM {BonusAnswer._meta.db_table} a WHERE a.question_id = %s"
        )
        params.append(question_id)
    return selects, params


def _guess_terms(states, round_id: int | None) -> tuple[list[str], list]:
    """One SELECT per match giving (member_id, points, exact, outcome, live points) of its guesses."""
    selects, params = [], []
    for match_id, held, previous, cursor in states:

        def exprs(applied: Applied | None) -> tuple[str, ...]:
            if applied is None or (round_id is not None and applied.round_id != round_id):
                return ZERO
            return score_sql(applied)

        now, before = exprs(held), exprs(previous)
        if cursor is None:
            columns = now
        else:
            columns = tuple(f"CASE WHEN g.member_id <= {int(cursor)} THEN {n} ELSE {b} END" for n, b in zip(now, before))
        if all(column == "0" for column in columns):
            continue
        selects.append(
            f"SELECT g.member_id, {', '.join(columns)} FROM {Guess._meta.db_table} g WHERE g.match_id = %s"
        )
        params.append(match_id)
    return selects, params


def _compare(expected_sql: str, expected_params: list, actual_sql: str, actual_params: list, board: str) -> list:
    """Rows that differ; a missing row counts as zeros (a standing opened at join, or never needed)."""
    pairs = [f"COALESCE(e.{c}, 0)" for c in COLUMNS] + [f"COALESCE(a.{c}, 0)" for c in COLUMNS]
    sql = (
        f"WITH e (member_id, {', '.join(COLUMNS)}) AS ({expected_sql}), "
        f"a (member_id, {', '.join(COLUMNS)}) AS ({actual_sql}) "
        f"SELECT COALESCE(e.member_id, a.member_id), {', '.join(pairs)} "
        f"FROM e FULL OUTER JOIN a ON a.member_id = e.member_id "
        f"WHERE " + " OR ".join(f"COALESCE(e.{c}, 0) <> COALESCE(a.{c}, 0)" for c in COLUMNS) + " "
        f"ORDER BY 1 LIMIT {DIFFERENCE_LIMIT}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, expected_params + actual_params)
        rows = cursor.fetchall()
    width = len(COLUMNS)
    return [
        Difference(board, member_id, tuple(values[:width]), tuple(values[width:])) for member_id, *values in rows
    ]


def standings_verify_database(*, tournament_id: int) -> list[Difference]:
    """Every standing and round standing of the tournament against its guesses and awards."""
    states = _match_states(tournament_id)
    selects, params = _guess_terms(states, None)
    selects.append(
        f"SELECT member_id, points, 0, 0, 0 FROM {ScoreActionAward._meta.db_table} "
        f"WHERE tournament_id = %s AND status = %s"
    )
    params += [tournament_id, ScoreActionAward.Status.APPLIED]
    answer_selects, answer_params = _answer_terms(_question_states(tournament_id))
    selects += answer_selects
    params += answer_params
    expected = (
        f"SELECT member_id, SUM(p), SUM(e), SUM(o), SUM(l) FROM ("
        + " UNION ALL ".join(selects)
        + ") x (member_id, p, e, o, l) GROUP BY member_id"
    )
    actual = (
        f"SELECT member_id, points, exact_hits, outcome_hits, live_points FROM {Standing._meta.db_table} "
        f"WHERE tournament_id = %s"
    )
    differences = _compare(expected, params, actual, [tournament_id], str(BoardKey.of_tournament(tournament_id)))
    round_ids = set(round_ids_with_rows(tournament_id=tournament_id))
    round_ids |= {applied.round_id for _, applied, _, _ in states if applied and applied.round_id}
    round_ids |= {applied.round_id for _, _, applied, _ in states if applied and applied.round_id}
    for round_id in sorted(round_ids):
        rselects, rparams = _guess_terms(states, round_id)
        if not rselects:
            rselects, rparams = ["SELECT 0, 0, 0, 0, 0 WHERE 1 = 0"], []
        rexpected = (
            "SELECT member_id, SUM(p), SUM(e), SUM(o), SUM(l) FROM ("
            + " UNION ALL ".join(rselects)
            + ") x (member_id, p, e, o, l) GROUP BY member_id"
        )
        ractual = (
            f"SELECT member_id, points, exact_hits, outcome_hits, live_points "
            f"FROM {RoundStanding._meta.db_table} WHERE round_id = %s"
        )
        # A row kept at zero counts as no row (`_compare` reads a missing row as zeros).
        differences += _compare(
            rexpected, rparams, ractual, [round_id], str(BoardKey.of_round(tournament_id, round_id))
        )
    return differences


def _stream(sql: str, params: list) -> Iterator[tuple]:
    # A server-side cursor keeps a million-row comparison in constant memory.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while True:
            rows = cursor.fetchmany(STREAM_CHUNK)
            if not rows:
                return
            yield from rows


def _redis_entries(client, key: str) -> Iterator[tuple[int, int, int]]:
    start = 0
    while True:
        entries = client.zrange(key, start, start + STREAM_CHUNK - 1, withscores=True)
        if not entries:
            return
        for member, score in entries:
            yield (int(member), *zscore_split(score))
        start += STREAM_CHUNK


def _compare_sets(board: str, database: Iterator[tuple], redis_rows: Iterator[tuple]) -> list[Difference]:
    """Both sides list (member id, points, exact hits) in board order; any mismatch is reported."""
    differences = []
    sentinel = object()
    while len(differences) < DIFFERENCE_LIMIT:
        expected, actual = next(database, sentinel), next(redis_rows, sentinel)
        if expected is sentinel and actual is sentinel:
            break
        if expected != actual:
            member_id = (expected if expected is not sentinel else actual)[0]
            differences.append(
                Difference(
                    f"redis {board}",
                    member_id,
                    tuple(expected[1:]) if expected is not sentinel else (),
                    tuple(actual[1:]) if actual is not sentinel else (),
                )
            )
    return differences


def standings_verify_projection(*, tournament_id: int) -> list[Difference]:
    """Every sorted set of the tournament against the database, member by member in board order."""
    if not projection_enabled():
        return []
    client = redis_client()
    if not client.exists(ready_key(tournament_id)):
        return [Difference(f"redis tournament:{tournament_id}", 0, ("built",), ("not built",))]
    order = "ORDER BY points DESC, exact_hits DESC, member_id"
    differences = _compare_sets(
        str(BoardKey.of_tournament(tournament_id)),
        _stream(
            f"SELECT member_id, points, exact_hits FROM {Standing._meta.db_table} WHERE tournament_id = %s {order}",
            [tournament_id],
        ),
        _redis_entries(client, BoardKey.of_tournament(tournament_id).redis_key),
    )
    for round_id in round_ids_with_rows(tournament_id=tournament_id):
        differences += _compare_sets(
            str(BoardKey.of_round(tournament_id, round_id)),
            _stream(
                f"SELECT member_id, points, exact_hits FROM {RoundStanding._meta.db_table} "
                f"WHERE round_id = %s AND {ROUND_EARNED_SQL} {order}",
                [round_id],
            ),
            _redis_entries(client, BoardKey.of_round(tournament_id, round_id).redis_key),
        )
    ready_leagues = {int(x) for x in client.smembers(leagues_ready_key(tournament_id))}
    for league_id in League.objects.filter(tournament_id=tournament_id, id__in=ready_leagues).values_list("id", flat=True):
        differences += _compare_sets(
            str(BoardKey.of_league(league_id)),
            _stream(
                f"SELECT lm.member_id, COALESCE(s.points, 0) AS points, COALESCE(s.exact_hits, 0) AS exact_hits "
                f"FROM {LeagueMembership._meta.db_table} lm LEFT JOIN {Standing._meta.db_table} s "
                f"ON s.tournament_id = %s AND s.member_id = lm.member_id WHERE lm.league_id = %s "
                f"ORDER BY points DESC, exact_hits DESC, lm.member_id",
                [tournament_id, league_id],
            ),
            _redis_entries(client, BoardKey.of_league(league_id, tournament_id).redis_key),
        )
    return differences


def standings_verify(*, tournament_id: int, projection_too: bool = True) -> list[Difference]:
    differences = standings_verify_database(tournament_id=tournament_id)
    if projection_too:
        differences += standings_verify_projection(tournament_id=tournament_id)
    return differences


def tournaments_with_standings() -> list[int]:
    return sorted(
        set(Standing.objects.values_list("tournament_id", flat=True).distinct())
        | set(Match.objects.filter(settlement_requests__isnull=False).values_list("tournament_id", flat=True))
    )
