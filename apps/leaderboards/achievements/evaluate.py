"""Match achievements (first_exact, hat_trick, perfect_round), evaluated set-based after a settlement request.

Achievements count final results only: a match in play never hands one out
nor takes one back. A match's *final result* is what settlement holds for it:
the last done request of the match applies a result that is not in play.
Settlement calls `achievements_after_request` once a request is done, still
under the tournament lock, so the results read here are exactly the ones the
standings hold and no other request of the tournament moves them meanwhile.

The work is bounded by the members the request can affect, found among the
match's guesses in one scan (keyed (match, member)):

- the match's final exact hits changed: new exact guessers may earn
  first_exact and hat_trick; guessers who lost an exact hit (a correction, a
  reversal, a result back in play) are re-checked and lose what no longer
  holds (or keep it, resting on another match);
- the match's round is finished (every match finished or void): when the
  match's final state changed, every member with at least 3 outcome hits in
  the round (from the round table) is checked, once per round in practice;
  for a correction, only guessers whose outcome hit changed. Holders of the
  round's perfect_round are re-checked whenever the round changes.

Re-checks read a member's own guesses (keyed (member, match)) against the
tournament's final results, a temporary table of one row per match.

These statements are PostgreSQL's: on other databases (the embedded SQLite
demo) each evaluation recomputes the tournament through the ORM instead
(`portable`).
"""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from apps.guesses.models import Guess
from apps.leaderboards.achievements import metrics
from apps.leaderboards.achievements.catalogue import FIRST_EXACT, HAT_TRICK, PERFECT_ROUND
from apps.leaderboards.achievements.portable import match_achievements_sync
from apps.leaderboards.achievements.signals import achievement_earned_send
from apps.leaderboards.models import Achievement, RoundStanding, SettlementRequest, Standing
from apps.matches.models import Match

logger = logging.getLogger(__name__)

GUESS = Guess._meta.db_table
MATCH = Match._meta.db_table
REQUEST = SettlementRequest._meta.db_table
STANDING = Standing._meta.db_table
ROUND_STANDING = RoundStanding._meta.db_table
ACHIEVEMENT = Achievement._meta.db_table

# The tournament's matches as achievements see them: position by kickoff,
# round, void, and the final result settlement holds (NULL: none). A round is
# finished when each of its matches is void or holds a final result.
HELD_SQL = f"""
CREATE TEMPORARY TABLE ach_held ON COMMIT DROP AS
SELECT x.*, bool_and(x.void OR x.home IS NOT NULL) OVER (PARTITION BY x.round_id) AS round_finished
FROM (
    SELECT m.id AS match_id, m.round_id, row_number() OVER (ORDER BY m.kickoff_at, m.id) AS pos,
           m.status IN ({", ".join(f"'{s}'" for s in Match.VOID_STATUSES)}) AS void,
           CASE WHEN r.applied_live THEN NULL ELSE r.applied_home END AS home,
           CASE WHEN r.applied_live THEN NULL ELSE r.applied_away END AS away
    FROM {MATCH} m
    LEFT JOIN LATERAL (
        SELECT sr.applied_home, sr.applied_away, sr.applied_live FROM {REQUEST} sr
        WHERE sr.match_id = m.id AND sr.status = '{SettlementRequest.Status.DONE}'
        ORDER BY sr.finished_at DESC, sr.id DESC LIMIT 1
    ) r ON true
    WHERE m.tournament_id = %(t)s
) x
"""

# Guess `g` against the final result of `h` (NULL: none, never a hit).
EXACT_HELD = "(h.home IS NOT NULL AND g.home_goals = h.home AND g.away_goals = h.away)"
OUTCOME_HELD = "(h.home IS NOT NULL AND sign(g.home_goals - g.away_goals) = sign(h.home - h.away))"


def _exact(result: tuple[int, int] | None) -> str:
    if result is None:
        return "false"
    return f"(g.home_goals = {int(result[0])} AND g.away_goals = {int(result[1])})"


def _outcome(result: tuple[int, int] | None) -> str:
    if result is None:
        return "false"
    return f"(sign(g.home_goals - g.away_goals) = {(result[0] > result[1]) - (result[0] < result[1])})"


def _final(request: SettlementRequest | None) -> tuple[int, int] | None:
    """The final result a request applies; None for a reversal, nothing, or a score in play."""
    if request is None or not request.applies_points or request.applied_live:
        return None
    return (request.applied_home, request.applied_away)


@dataclass
class Evaluation:
    earned: list[tuple[int, str]]
    revoked: int


def achievements_enabled() -> bool:
    return bool(getattr(settings, "ACHIEVEMENTS_ENABLED", True))


def _portable(tournament_id: int) -> Evaluation:
    """Other databases than PostgreSQL: the whole tournament recomputed through the ORM (`portable`)."""
    earned, revoked = match_achievements_sync(tournament_id=tournament_id)
    if earned:
        transaction.on_commit(lambda: achievement_earned_send(tournament_id=tournament_id, earned=earned))
    return Evaluation(earned=earned, revoked=revoked)


def achievements_after_request(*, request_id: int) -> Evaluation | None:
    """Award and take back match achievements after settlement request `request_id` is done.

    Call under the tournament lock, after the request's "done" commit. Runs in
    one transaction of its own; what was earned is announced after it
    commits (`achievement_earned`). Running it again changes nothing.

    Never raises: the request's points are committed whatever happens here,
    and a settlement job failing now would only be retried as a no-op. A
    failure is logged (and rolled back whole); None says so.
    """
    try:
        evaluation = achievements_evaluate(request_id=request_id)
    except Exception:
        metrics.evaluations.labels(outcome="failed").inc()
        logger.exception("achievements after settlement request %s failed", request_id)
        return None
    metrics.evaluations.labels(outcome="done").inc()
    return evaluation


def achievements_evaluate(*, request_id: int) -> Evaluation:
    """`achievements_after_request`, raising what fails."""
    request = SettlementRequest.objects.select_related("base", "match").get(pk=request_id)
    old, new = _final(request.base), _final(request)
    reversal = request.kind == SettlementRequest.Kind.REVERSE
    if not achievements_enabled() or request.status != SettlementRequest.Status.DONE or (old == new and not reversal):
        # A goal in play, the same result again (a scoring change): no final result moved. A reversal
        # always counts: a match abandoned in play moves no final result, but may finish its round.
        return Evaluation(earned=[], revoked=0)
    started = time.perf_counter()
    match = request.match
    if connection.vendor != "postgresql":
        return _portable(match.tournament_id)
    params = {"t": match.tournament_id, "m": match.pk, "r": match.round_id}
    earned: list[tuple[int, str]] = []
    revoked = 0
    with transaction.atomic(), connection.cursor() as cursor:
        # Dropped at commit; dropped here too when an outer transaction (a test) outlives the evaluation.
        cursor.execute("DROP TABLE IF EXISTS ach_held, ach_changed")
        cursor.execute(HELD_SQL, params)
        cursor.execute("ANALYZE ach_held")
        correction = old is not None and new is not None
        # The match's guesses whose final exact or outcome hit changed, in one scan.
        cursor.execute(
            f"""CREATE TEMPORARY TABLE ach_changed ON COMMIT DROP AS
            SELECT g.member_id, {_exact(old)} AS old_exact, {_exact(new)} AS new_exact,
                   {_outcome(old)} AS old_outcome, {_outcome(new)} AS new_outcome
            FROM {GUESS} g WHERE g.match_id = %(m)s
            AND ({_exact(old)} <> {_exact(new)} {f"OR {_outcome(old)} <> {_outcome(new)}" if correction else ""})""",
            params,
        )
        cursor.execute("ANALYZE ach_changed")
        earned += _first_exact(cursor, params)
        earned += _hat_trick(cursor, params)
        revoked += _exact_lost(cursor, params)
        earned_round, revoked_round = _perfect_round(cursor, params, correction=correction)
        earned += earned_round
        revoked += revoked_round
        cursor.execute("DROP TABLE ach_held, ach_changed")
        if earned:
            transaction.on_commit(lambda: achievement_earned_send(tournament_id=match.tournament_id, earned=earned))
    metrics.evaluation_seconds.observe(time.perf_counter() - started)
    logger.info(
        "achievements after %s: %s earned, %s taken back", request.idempotency_key, len(earned), revoked
    )
    return Evaluation(earned=earned, revoked=revoked)


def _first_exact(cursor, params) -> list[tuple[int, str]]:
    cursor.execute(
        f"""INSERT INTO {ACHIEVEMENT} (tournament_id, member_id, code, earned_at, match_id)
        SELECT %(t)s, c.member_id, '{FIRST_EXACT}', now(), %(m)s FROM ach_changed c WHERE c.new_exact
        ON CONFLICT (tournament_id, member_id, code) DO NOTHING RETURNING member_id""",
        params,
    )
    return [(member_id, FIRST_EXACT) for (member_id,) in cursor.fetchall()]


def _windows_sql(candidates: str) -> str:
    """(member_id, match_id) of the first hat trick of each member of `candidates`: the last match of its three.

    The sequence is every match the member guessed, by kickoff: a match without
    a final exact hit (a miss, not yet played, void) breaks it.
    """
    return f"""SELECT DISTINCT ON (w.member_id) w.member_id, w.match_id FROM (
        SELECT g.member_id, h.match_id, h.pos,
               {EXACT_HELD} AND lag({EXACT_HELD}, 1) OVER s AND lag({EXACT_HELD}, 2) OVER s AS hat
        FROM ({candidates}) c JOIN {GUESS} g ON g.member_id = c.member_id JOIN ach_held h ON h.match_id = g.match_id
        WINDOW s AS (PARTITION BY g.member_id ORDER BY h.pos)
    ) w WHERE w.hat ORDER BY w.member_id, w.pos"""


def _hat_trick(cursor, params) -> list[tuple[int, str]]:
    # A member with fewer than 3 exact hits in all (in play included) cannot
    # hold one: the standing is one lookup, the member's guesses many.
    candidates = (
        f"SELECT c.member_id FROM ach_changed c JOIN {STANDING} s ON s.tournament_id = %(t)s "
        f"AND s.member_id = c.member_id AND s.exact_hits >= 3 WHERE c.new_exact"
    )
    cursor.execute(
        f"""INSERT INTO {ACHIEVEMENT} (tournament_id, member_id, code, earned_at, match_id)
        SELECT %(t)s, w.member_id, '{HAT_TRICK}', now(), w.match_id FROM ({_windows_sql(candidates)}) w
        ON CONFLICT (tournament_id, member_id, code) DO NOTHING RETURNING member_id""",
        params,
    )
    return [(member_id, HAT_TRICK) for (member_id,) in cursor.fetchall()]


def _first_exact_sql(candidates: str) -> str:
    """(member_id, match_id) of the earliest final exact hit (by kickoff) of each member of `candidates`."""
    return f"""SELECT DISTINCT ON (g.member_id) g.member_id, h.match_id
        FROM ({candidates}) c JOIN {GUESS} g ON g.member_id = c.member_id
        JOIN ach_held h ON h.match_id = g.match_id WHERE {EXACT_HELD} ORDER BY g.member_id, h.pos"""


def _exact_lost(cursor, params) -> int:
    """Holders of first_exact or hat_trick who lost an exact hit on the match: keep what still holds, else take back."""
    revoked = 0
    lost = (
        f"SELECT a.member_id FROM ach_changed c JOIN {ACHIEVEMENT} a ON a.tournament_id = %(t)s "
        f"AND a.member_id = c.member_id AND a.code = '{{code}}' WHERE c.old_exact AND NOT c.new_exact"
    )
    for code, held_by in ((FIRST_EXACT, _first_exact_sql), (HAT_TRICK, _windows_sql)):
        candidates = lost.format(code=code)
        _, taken_back = _sync(cursor, params, code=code, candidates=candidates, still=held_by(candidates), column="match_id")
        revoked += taken_back
    return revoked


def _sync(
    cursor, params, *, code: str, candidates: str, still: str, column: str, award: bool = False
) -> tuple[list[tuple[int, str]], int]:
    """Make `code` held by exactly the members of `candidates` that `still` finds, as (member_id, source).

    Holders that still qualify rest on the source found (earned_at kept);
    holders that no longer do lose it; with `award`, members that qualify
    and hold nothing earn it. Returns (earned, number taken back).
    """
    earned: list[tuple[int, str]] = []
    cursor.execute(
        f"""WITH c AS MATERIALIZED ({candidates}), s (member_id, source) AS MATERIALIZED ({still}),
        moved AS (UPDATE {ACHIEVEMENT} a SET {column} = s.source FROM s
            WHERE a.tournament_id = %(t)s AND a.code = '{code}' AND a.member_id = s.member_id
            AND a.{column} IS DISTINCT FROM s.source RETURNING a.member_id)
        DELETE FROM {ACHIEVEMENT} a USING c WHERE a.tournament_id = %(t)s AND a.code = '{code}'
        AND a.member_id = c.member_id AND NOT EXISTS (SELECT 1 FROM s WHERE s.member_id = c.member_id)""",
        params,
    )
    revoked = cursor.rowcount
    if award:
        cursor.execute(
            f"""INSERT INTO {ACHIEVEMENT} (tournament_id, member_id, code, earned_at, {column})
            SELECT %(t)s, s.member_id, '{code}', now(), s.source FROM ({still}) s (member_id, source)
            ON CONFLICT (tournament_id, member_id, code) DO NOTHING RETURNING member_id""",
            params,
        )
        earned = [(member_id, code) for (member_id,) in cursor.fetchall()]
    return earned, revoked


def _perfect_sql(candidates: str) -> str:
    """(member_id, round_id) of a perfect round of each member of `candidates`: a finished round in which the
    member guessed at least 3 matches that are not void and got at least the outcome right on each.
    """
    return f"""SELECT DISTINCT ON (g.member_id) g.member_id, h.round_id
        FROM ({candidates}) c JOIN {GUESS} g ON g.member_id = c.member_id
        JOIN ach_held h ON h.match_id = g.match_id
        WHERE h.round_finished AND NOT h.void
        GROUP BY g.member_id, h.round_id
        HAVING count(*) >= 3 AND bool_and({OUTCOME_HELD})
        ORDER BY g.member_id, h.round_id"""


def _perfect_here_sql(candidates: str | None) -> str:
    """(member_id, round_id) of the members of `candidates` (None: all) perfect in the match's round, finished.

    `_perfect_sql` on that round, read from the round table: once the round is
    finished its row's outcome_hits counts the member's scoring guesses on
    the round's matches that count, so the member is perfect when that is at
    least 3 and equals the number of those matches they guessed. A member who
    guessed them all needs no guess read; the others one index range each.
    (While a cancellation still waits for its reversal, the row still counts
    the cancelled match and nobody concerned is perfect: the reversal looks
    at the round again.)
    """
    join = f"JOIN ({candidates}) c ON c.member_id = rs.member_id " if candidates else ""
    # The count reads one range of the (member, match) index, between the round's lowest and highest match
    # ids (a round's matches are created together), index only; the exact list filters inside it ("+ 0"
    # keeps it a filter, not one index descent per match of the round).
    return f"""SELECT rs.member_id, rs.round_id FROM {ROUND_STANDING} rs {join}
        CROSS JOIN (SELECT array_agg(match_id) AS ids, count(*) AS n, min(match_id) AS lo, max(match_id) AS hi
                    FROM ach_held WHERE round_id = %(r)s AND NOT void) r
        WHERE rs.round_id = %(r)s AND rs.outcome_hits >= 3 AND (rs.outcome_hits = r.n OR rs.outcome_hits = (
            SELECT count(*) FROM {GUESS} g WHERE g.member_id = rs.member_id
            AND g.match_id BETWEEN r.lo AND r.hi AND g.match_id + 0 = ANY(r.ids)))"""


def _perfect_round(cursor, params, *, correction: bool) -> tuple[list[tuple[int, str]], int]:
    # Holders of this round's perfect_round first: the round changed under them (a match corrected, voided,
    # back in play). Found by their own index; none yet when the round has just finished.
    holders = (
        f"SELECT member_id FROM {ACHIEVEMENT} "
        f"WHERE round_id = %(r)s AND tournament_id = %(t)s AND code = '{PERFECT_ROUND}'"
    )
    _, revoked = _sync(
        cursor, params, code=PERFECT_ROUND, candidates=holders, still=_perfect_sql(holders),
        column="round_id",
    )  # fmt: skip
    cursor.execute("SELECT bool_and(round_finished) FROM ach_held WHERE round_id = %(r)s", params)
    if not cursor.fetchone()[0]:
        return [], revoked
    # Correction: only a guesser whose outcome hit on this match changed can be perfect now and not before.
    # Otherwise the match's final state changed (its first final result, a reversal): the round may have
    # just finished, or lost a match that no longer counts, so the whole round table is looked at.
    candidates = "SELECT member_id FROM ach_changed WHERE new_outcome AND NOT old_outcome" if correction else None
    cursor.execute(
        f"""INSERT INTO {ACHIEVEMENT} (tournament_id, member_id, code, earned_at, round_id)
        SELECT %(t)s, p.member_id, '{PERFECT_ROUND}', now(), p.round_id
        FROM ({_perfect_here_sql(candidates)}) p
        ON CONFLICT (tournament_id, member_id, code) DO NOTHING RETURNING member_id""",
        params,
    )
    return [(member_id, PERFECT_ROUND) for (member_id,) in cursor.fetchall()], revoked


def achievements_rebuild(*, tournament_id: int) -> Evaluation:
    """Recompute the match achievements of every participant of a tournament from its guesses and final results.

    Hands out what is missing and takes back what no longer holds (snapshot
    achievements are left alone); what already holds keeps its earned_at.
    For repairs (an evaluation that failed, a schedule change) and checks:
    after any run of settlements it finds nothing to change. Call under the
    tournament lock. Reads every guess of the tournament.
    """
    if not achievements_enabled():
        return Evaluation(earned=[], revoked=0)
    if connection.vendor != "postgresql":
        return _portable(tournament_id)
    params = {"t": tournament_id}
    everyone = f"SELECT member_id FROM {STANDING} WHERE tournament_id = %(t)s"
    earned: list[tuple[int, str]] = []
    revoked = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS ach_held, ach_changed")
        cursor.execute(HELD_SQL, params)
        cursor.execute("ANALYZE ach_held")
        for code, still, column in (
            (FIRST_EXACT, _first_exact_sql(everyone), "match_id"),
            (HAT_TRICK, _windows_sql(everyone), "match_id"),
            (PERFECT_ROUND, _perfect_sql(everyone), "round_id"),
        ):
            found, taken_back = _sync(
                cursor, params, code=code, candidates=everyone, still=still, column=column, award=True
            )
            earned += found
            revoked += taken_back
        cursor.execute("DROP TABLE ach_held")
        if earned:
            transaction.on_commit(lambda: achievement_earned_send(tournament_id=tournament_id, earned=earned))
    return Evaluation(earned=earned, revoked=revoked)
