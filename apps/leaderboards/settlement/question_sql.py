"""Set-based SQL of one bonus-question settlement batch.

A batch is the answers of one question whose member id lies in (lo, hi].
Each answer is worth the question's points when it equals the correct
answer the request applies (`new`) and, likewise, under the answer applied
before (`old`); every standing moves by the difference, points only (no
hits, no round, no live points: SCORING.md "Bonus questions"). The one
statement returns the new absolute totals for the projection, as a match
batch does (sql.BatchPlan):

    (kind, key id, member id, points, exact hits)

for the tournament board and every league board of each moved member.
"""

from dataclasses import dataclass

from django.db import connection
from django.db.models import F

from apps.leaderboards.boards.projection_write import KIND_LEAGUE, KIND_TOURNAMENT
from apps.leaderboards.models import QuestionSettlementRequest, Standing
from apps.leaderboards.settlement.sql import keyset_bounds, league_rows_sql
from apps.leagues.models import LeagueMembership
from apps.matches.models import BonusAnswer


@dataclass(frozen=True)
class AppliedAnswer:
    """What one question request counts: the correct team or number, and the question's points."""

    team_id: int | None
    number: int | None
    points: int

    @classmethod
    def of_request(cls, request: QuestionSettlementRequest | None) -> "AppliedAnswer | None":
        if request is None or not request.applies_points:
            return None
        return cls(team_id=request.applied_team_id, number=request.applied_number, points=request.applied_points)

    def score(self, team_id: int | None, number: int | None) -> int:
        if self.team_id is not None:
            return self.points if team_id == self.team_id else 0
        return self.points if number == self.number else 0


def answer_points_sql(applied: AppliedAnswer | None, alias: str = "a") -> str:
    """SQL for the points of answer `alias` under `applied` (0 when None); ints formatted from typed fields."""
    if applied is None:
        return "0"
    if applied.team_id is not None:
        return f"CASE WHEN {alias}.team_id = {int(applied.team_id)} THEN {int(applied.points)} ELSE 0 END"
    return f"CASE WHEN {alias}.number = {int(applied.number)} THEN {int(applied.points)} ELSE 0 END"


class AnswerPlan:
    """The statements of one question request, built once and run per batch."""

    def __init__(
        self, *, question_id: int, tournament_id: int, old: AppliedAnswer | None, new: AppliedAnswer | None
    ):
        self.question_id = question_id
        self.tournament_id = tournament_id
        self.old = old
        self.new = new
        self._pg_sql = self._build_pg() if connection.vendor == "postgresql" else None

    def bounds(self, *, lo: int, size: int) -> tuple[int, int]:
        """(number of answers, highest member id) of the next batch after `lo`; (0, lo) when none are left."""
        return keyset_bounds(
            table=BonusAnswer._meta.db_table, subject="question_id", subject_id=self.question_id, lo=lo, size=size
        )

    def apply(self, *, lo: int, hi: int) -> list[tuple]:
        if self.new == self.old:
            # Nothing moves (a repeated settle with the same answer and points).
            return []
        if self._pg_sql is None:
            return self._apply_portable(lo=lo, hi=hi)
        with connection.cursor() as cursor:
            cursor.execute(self._pg_sql, {"question": self.question_id, "lo": lo, "hi": hi})
            return cursor.fetchall()

    def _build_pg(self) -> str:
        t = int(self.tournament_id)
        standing = Standing._meta.db_table
        delta = f"({answer_points_sql(self.new)}) - ({answer_points_sql(self.old)})"
        # Only the answers whose points change touch a standing: on a settle,
        # the correct ones; every other answer is read and left.
        return (
            f"WITH d AS MATERIALIZED (SELECT * FROM (SELECT a.member_id, {delta} AS p "
            f"FROM {BonusAnswer._meta.db_table} a "
            f"WHERE a.question_id = %(question)s AND a.member_id > %(lo)s AND a.member_id <= %(hi)s) x WHERE p <> 0), "
            f"u AS (UPDATE {standing} AS s SET points = s.points + d.p FROM d "
            f"WHERE s.tournament_id = {t} AND s.member_id = d.member_id "
            f"AND s.member_id > %(lo)s AND s.member_id <= %(hi)s "
            f"RETURNING s.member_id, s.points, s.exact_hits), "
            # A member who answered always took part (answering joins), so a
            # standing is there; ON CONFLICT covers one opened meanwhile.
            f"i AS (INSERT INTO {standing} (tournament_id, member_id, points, exact_hits, outcome_hits, live_points) "
            f"SELECT {t}, d.member_id, d.p, 0, 0, 0 FROM d "
            f"WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.member_id = d.member_id) "
            f"ON CONFLICT (tournament_id, member_id) DO UPDATE SET points = {standing}.points + EXCLUDED.points "
            f"RETURNING member_id, points, exact_hits), "
            f"t_all AS (SELECT * FROM u UNION ALL SELECT * FROM i) "
            f"SELECT {KIND_TOURNAMENT}, {t}, member_id, points, exact_hits FROM t_all "
            f"UNION ALL {league_rows_sql(moved='t_all', tournament_id=t)}"
        )

    def _apply_portable(self, *, lo: int, hi: int) -> list[tuple]:
        """The same batch through the ORM, row by row: for the embedded database and small data."""
        answers = BonusAnswer.objects.filter(
            question_id=self.question_id, member_id__gt=lo, member_id__lte=hi
        ).values_list("member_id", "team_id", "number")
        moved: dict[int, int] = {}
        for member_id, team_id, number in answers:
            new = self.new.score(team_id, number) if self.new else 0
            old = self.old.score(team_id, number) if self.old else 0
            if new != old:
                moved[member_id] = new - old
        for member_id, delta in moved.items():
            Standing.objects.get_or_create(tournament_id=self.tournament_id, member_id=member_id)
            Standing.objects.filter(tournament_id=self.tournament_id, member_id=member_id).update(
                points=F("points") + delta
            )
        return self._rows(list(moved))

    def _rows(self, members: list[int]) -> list[tuple]:
        rows: list[tuple] = []
        totals = {}
        for member_id, points, exact_hits in Standing.objects.filter(
            tournament_id=self.tournament_id, member_id__in=members
        ).values_list("member_id", "points", "exact_hits"):
            totals[member_id] = (points, exact_hits)
            rows.append((KIND_TOURNAMENT, self.tournament_id, member_id, points, exact_hits))
        for league_id, member_id in LeagueMembership.objects.filter(
            member_id__in=list(totals), league__tournament_id=self.tournament_id
        ).values_list("league_id", "member_id"):
            rows.append((KIND_LEAGUE, league_id, member_id, *totals[member_id]))
        return rows

    def current(self, *, lo: int, hi: int) -> list[tuple]:
        """The present totals of every member with an answer in (lo, hi], as rows for the projection."""
        members = list(
            BonusAnswer.objects.filter(question_id=self.question_id, member_id__gt=lo, member_id__lte=hi).values_list(
                "member_id", flat=True
            )
        )
        return self._rows(members)
