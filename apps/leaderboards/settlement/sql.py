"""Set-based SQL of one settlement batch.

A batch is the guesses of one match whose member id lies in (lo, hi]. For each
guess the statement derives the points the request applies (`new`) and the
points applied before (`old`, from the previous request's recorded result and
scoring) and moves every standing by the difference, in one statement that
also returns the new absolute totals for the projection:

    (kind, key id, member id, points, exact hits)

Only members whose totals change are written: a guess that scored nothing
(before and after) touches no row, which on a typical result is most of them.
Round rows that fall back to nothing stay, at zero (see `RoundStanding`), and
are returned with points None so the projection removes them from the round
table.

PostgreSQL runs it as one statement with data-modifying CTEs; other databases
(the embedded SQLite) take the plain ORM path, which gives the same rows.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.db import connection
from django.db.models import F

from apps.guesses.models import Guess
from apps.guesses.scoring import ScoringRules, score_guess
from apps.leaderboards.boards.projection_write import KIND_LEAGUE, KIND_ROUND, KIND_TOURNAMENT
from apps.leaderboards.models import ROUND_EARNED_SQL, RoundStanding, SettlementRequest, Standing
from apps.leagues.models import League, LeagueMembership

COLUMNS = ("points", "exact_hits", "outcome_hits")
# What a batch moves per standing: the columns above plus the live part of the points.
MOVED = (*COLUMNS, "live_points")
ZERO = ("0", "0", "0", "0")


@dataclass(frozen=True)
class Applied:
    """What one settlement request counts for a match: result, scoring, multiplier, round."""

    home: int
    away: int
    points_exact: int
    points_goal_difference: int
    points_outcome: int
    multiplier: int
    round_id: int | None
    # A score in play: the points it gives are live points too (SCORING.md "In-play").
    live: bool = False

    @classmethod
    def of_request(cls, request: SettlementRequest | None) -> "Applied | None":
        if request is None or not request.applies_points:
            return None
        return cls(
            home=request.applied_home,
            away=request.applied_away,
            points_exact=request.applied_points_exact or 0,
            points_goal_difference=request.applied_points_goal_difference or 0,
            points_outcome=request.applied_points_outcome or 0,
            multiplier=request.applied_multiplier or 1,
            round_id=request.applied_round_id,
            live=request.applied_live,
        )

    def score(self, home_goals: int, away_goals: int, joker: bool = False) -> tuple[int, int, int, int]:
        """(points, exact, outcome, live points) of one guess, by the pure scoring rules."""
        rules = ScoringRules(
            points_exact=self.points_exact,
            points_goal_difference=self.points_goal_difference,
            points_outcome=self.points_outcome,
        )
        scored = score_guess(
            guess=(home_goals, away_goals),
            result=(self.home, self.away),
            rules=rules,
            multiplier=self.multiplier,
            joker=joker,
        )
        return scored.points, int(scored.exact), int(scored.outcome), scored.points if self.live else 0


def score_sql(applied: Applied | None) -> tuple[str, str, str, str]:
    """SQL for (points, exact, outcome, live points) of guess `g` under `applied`; zeros when None.

    The result and settings are constants of the request, so the branches are
    decided here and the database evaluates only comparisons of the guess. The
    ints are formatted from typed fields, never from user text.
    """
    if applied is None:
        return ZERO
    h, a = int(applied.home), int(applied.away)
    m = int(applied.multiplier)
    exact = f"g.home_goals = {h} AND g.away_goals = {a}"
    if h > a:
        outcome = "g.home_goals > g.away_goals"
    elif h < a:
        outcome = "g.home_goals < g.away_goals"
    else:
        outcome = "g.home_goals = g.away_goals"
    branches = [f"WHEN {exact} THEN {int(applied.points_exact) * m}"]
    if h != a:
        # Goal difference counts for decisive results only (SCORING.md).
        branches.append(f"WHEN g.home_goals - g.away_goals = {h - a} THEN {int(applied.points_goal_difference) * m}")
    branches.append(f"WHEN {outcome} THEN {int(applied.points_outcome) * m}")
    # A joker doubles the guess's points (not its hits). The joker cannot
    # change once the match is locked, so old and new points read the same one.
    points = f"(CASE {' '.join(branches)} ELSE 0 END) * (CASE WHEN g.joker THEN 2 ELSE 1 END)"
    live = points if applied.live else "0"
    return points, f"CASE WHEN {exact} THEN 1 ELSE 0 END", f"CASE WHEN {outcome} THEN 1 ELSE 0 END", live


def keyset_bounds(*, table: str, subject: str, subject_id: int, lo: int, size: int) -> tuple[int, int]:
    """(number of rows, highest member id) of the next batch of `table`'s rows of one subject after member `lo`;
    (0, lo) when none are left. Walks the (subject, member) index: the batches of a request are keyset pages."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), MAX(member_id) FROM (SELECT member_id FROM {table} "
            f"WHERE {subject} = %s AND member_id > %s ORDER BY member_id LIMIT %s) b",
            [subject_id, lo, size],
        )
        count, hi = cursor.fetchone()
    return count, (hi if count else lo)


def league_rows_sql(*, moved: str, tournament_id: int) -> str:
    """Projection rows of every league of the members in `moved` (a CTE of member_id, points, exact_hits).

    League boards show tournament totals: every league of a moved member moves too.
    """
    return (
        f"SELECT {KIND_LEAGUE}, lm.league_id, {moved}.member_id, {moved}.points, {moved}.exact_hits FROM {moved} "
        f"JOIN {LeagueMembership._meta.db_table} lm ON lm.member_id = {moved}.member_id "
        f"JOIN {League._meta.db_table} l ON l.id = lm.league_id AND l.tournament_id = {int(tournament_id)}"
    )


class BatchPlan:
    """The statements of one request, built once and run per batch."""

    def __init__(self, *, match_id: int, tournament_id: int, old: Applied | None, new: Applied | None):
        self.match_id = match_id
        self.tournament_id = tournament_id
        self.old = old
        self.new = new
        rounds = []
        for applied in (old, new):
            if applied is not None and applied.round_id is not None and applied.round_id not in rounds:
                rounds.append(applied.round_id)
        self.round_ids = rounds
        self._pg_sql = self._build_pg() if connection.vendor == "postgresql" else None

    # --- bounds ------------------------------------------------------------
    def bounds(self, *, lo: int, size: int) -> tuple[int, int]:
        """(number of guesses, highest member id) of the next batch after `lo`; (0, lo) when none are left."""
        return keyset_bounds(table=Guess._meta.db_table, subject="match_id", subject_id=self.match_id, lo=lo, size=size)

    # --- the batch -----------------------------------------------------------
    def apply(self, *, lo: int, hi: int) -> list[tuple]:
        if self._pg_sql is None:
            return self._apply_portable(lo=lo, hi=hi)
        with connection.cursor() as cursor:
            cursor.execute(self._pg_sql, {"match": self.match_id, "lo": lo, "hi": hi})
            return cursor.fetchall()

    def _round_scores(self, round_id: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        new = score_sql(self.new) if self.new and self.new.round_id == round_id else ZERO
        old = score_sql(self.old) if self.old and self.old.round_id == round_id else ZERO
        return new, old

    def _build_pg(self) -> str:
        t = int(self.tournament_id)
        standing = Standing._meta.db_table
        round_standing = RoundStanding._meta.db_table
        columns = []
        targets = [("t", standing, f"s.tournament_id = {t}", ["tournament_id"], [str(t)], "tournament_id, member_id")]
        new, old = score_sql(self.new), score_sql(self.old)
        columns += [f"({n}) - ({o}) AS t_{c}" for c, n, o in zip("peol", new, old)]
        for index, round_id in enumerate(self.round_ids):
            rnew, rold = self._round_scores(round_id)
            prefix = f"r{index}"
            columns += [f"({n}) - ({o}) AS {prefix}_{c}" for c, n, o in zip("peol", rnew, rold)]
            targets.append(
                (
                    prefix,
                    round_standing,
                    f"s.round_id = {int(round_id)}",
                    ["tournament_id", "round_id"],
                    [str(t), str(int(round_id))],
                    # Only settlement writes round rows, under the tournament lock:
                    # nothing can insert one meanwhile, and a plain insert is half
                    # the cost of a speculative one.
                    None,
                )
            )
        moved_any = " OR ".join(f"x.{prefix}_{c} <> 0" for prefix, *_ in targets for c in "peol")
        ctes = [
            f"d AS MATERIALIZED (SELECT * FROM (SELECT g.member_id, {', '.join(columns)} "
            f"FROM {Guess._meta.db_table} g "
            # OFFSET 0 keeps the planner from copying each score expression into
            # the filter below, which would evaluate it twice per guess.
            f"WHERE g.match_id = %(match)s AND g.member_id > %(lo)s AND g.member_id <= %(hi)s OFFSET 0) x "
            f"WHERE {moved_any})"
        ]
        selects = []
        for prefix, table, key, insert_columns, insert_values, conflict in targets:
            # The final whistle at an unchanged score moves live points only.
            moved = f"(d.{prefix}_p <> 0 OR d.{prefix}_e <> 0 OR d.{prefix}_o <> 0 OR d.{prefix}_l <> 0)"
            ctes.append(
                f"{prefix}_u AS (UPDATE {table} AS s SET points = s.points + d.{prefix}_p, "
                f"exact_hits = s.exact_hits + d.{prefix}_e, outcome_hits = s.outcome_hits + d.{prefix}_o, "
                f"live_points = s.live_points + d.{prefix}_l FROM d "
                f"WHERE {key} AND s.member_id = d.member_id AND s.member_id > %(lo)s AND s.member_id <= %(hi)s "
                f"AND {moved} RETURNING s.member_id, s.points, s.exact_hits, s.outcome_hits)"
            )
            # Members without a row yet (first points in this round; a standing
            # never opened) are inserted. A standing can be opened by a join at
            # any moment: ON CONFLICT adds to the row that appeared meanwhile.
            on_conflict = (
                f"ON CONFLICT ({conflict}) DO UPDATE SET points = {table}.points + EXCLUDED.points, "
                f"exact_hits = {table}.exact_hits + EXCLUDED.exact_hits, "
                f"outcome_hits = {table}.outcome_hits + EXCLUDED.outcome_hits, "
                f"live_points = {table}.live_points + EXCLUDED.live_points "
                if conflict
                else ""
            )
            ctes.append(
                f"{prefix}_i AS (INSERT INTO {table} ({', '.join(insert_columns)}, member_id, points, exact_hits, "
                f"outcome_hits, live_points) SELECT {', '.join(insert_values)}, d.member_id, d.{prefix}_p, "
                f"d.{prefix}_e, d.{prefix}_o, d.{prefix}_l FROM d WHERE {moved} "
                f"AND NOT EXISTS (SELECT 1 FROM {prefix}_u u WHERE u.member_id = d.member_id) "
                f"{on_conflict}RETURNING member_id, points, exact_hits, outcome_hits)"
            )
            if prefix == "t":
                ctes.append("t_all AS (SELECT * FROM t_u UNION ALL SELECT * FROM t_i)")
                selects.append(f"SELECT {KIND_TOURNAMENT}, {t}, member_id, points, exact_hits FROM t_all")
            else:
                round_id = int(insert_values[1])
                # A row back at nothing leaves the round's set (points None).
                listed = f"CASE WHEN {ROUND_EARNED_SQL} THEN points END"
                for part in ("u", "i"):
                    selects.append(
                        f"SELECT {KIND_ROUND}, {round_id}, member_id, {listed}, exact_hits FROM {prefix}_{part}"
                    )
        selects.append(league_rows_sql(moved="t_all", tournament_id=t))
        return "WITH " + ",\n".join(ctes) + "\n" + "\nUNION ALL ".join(selects)

    def _apply_portable(self, *, lo: int, hi: int) -> list[tuple]:
        """The same batch through the ORM, row by row: for the embedded database and small data."""
        guesses = Guess.objects.filter(match_id=self.match_id, member_id__gt=lo, member_id__lte=hi).values_list(
            "member_id", "home_goals", "away_goals", "joker"
        )
        zero = (0, 0, 0, 0)
        rows: list[tuple] = []
        moved_members: dict[int, tuple[int, int, int, int]] = {}
        round_deltas: dict[int, dict[int, tuple]] = defaultdict(dict)
        for member_id, home_goals, away_goals, joker in guesses:
            new = self.new.score(home_goals, away_goals, joker) if self.new else zero
            old = self.old.score(home_goals, away_goals, joker) if self.old else zero
            delta = tuple(n - o for n, o in zip(new, old))
            if any(delta):
                moved_members[member_id] = delta
            for round_id in self.round_ids:
                rnew = new if self.new and self.new.round_id == round_id else zero
                rold = old if self.old and self.old.round_id == round_id else zero
                rdelta = tuple(n - o for n, o in zip(rnew, rold))
                if any(rdelta):
                    round_deltas[round_id][member_id] = rdelta
        for member_id, delta in moved_members.items():
            Standing.objects.get_or_create(tournament_id=self.tournament_id, member_id=member_id)
            Standing.objects.filter(tournament_id=self.tournament_id, member_id=member_id).update(**_moves(delta))
        for round_id, deltas in round_deltas.items():
            for member_id, delta in deltas.items():
                RoundStanding.objects.get_or_create(
                    round_id=round_id, member_id=member_id, defaults={"tournament_id": self.tournament_id}
                )
                RoundStanding.objects.filter(round_id=round_id, member_id=member_id).update(**_moves(delta))
            for member_id, points, exact_hits, outcome_hits in RoundStanding.objects.filter(
                round_id=round_id, member_id__in=list(deltas)
            ).values_list("member_id", "points", "exact_hits", "outcome_hits"):
                earned = points or exact_hits or outcome_hits
                rows.append((KIND_ROUND, round_id, member_id, points if earned else None, exact_hits))
        totals = {
            member_id: (points, exact_hits)
            for member_id, points, exact_hits in Standing.objects.filter(
                tournament_id=self.tournament_id, member_id__in=list(moved_members)
            ).values_list("member_id", "points", "exact_hits")
        }
        for member_id, (points, exact_hits) in totals.items():
            rows.append((KIND_TOURNAMENT, self.tournament_id, member_id, points, exact_hits))
        for league_id, member_id in LeagueMembership.objects.filter(
            member_id__in=list(totals), league__tournament_id=self.tournament_id
        ).values_list("league_id", "member_id"):
            points, exact_hits = totals[member_id]
            rows.append((KIND_LEAGUE, league_id, member_id, points, exact_hits))
        return rows

    # --- current totals, for re-projecting after a crash ----------------------
    def current(self, *, lo: int, hi: int) -> list[tuple[int, int, int, int, int]]:
        """The present totals of every member with a guess in (lo, hi], as rows for the projection."""
        members = list(
            Guess.objects.filter(match_id=self.match_id, member_id__gt=lo, member_id__lte=hi).values_list(
                "member_id", flat=True
            )
        )
        rows: list[tuple[int, int, int, int, int]] = []
        totals = {}
        for member_id, points, exact_hits in Standing.objects.filter(
            tournament_id=self.tournament_id, member_id__in=members
        ).values_list("member_id", "points", "exact_hits"):
            totals[member_id] = (points, exact_hits)
            rows.append((KIND_TOURNAMENT, self.tournament_id, member_id, points, exact_hits))
        for round_id in self.round_ids:
            present = set()
            for member_id, points, exact_hits in (
                RoundStanding.objects.earned()
                .filter(round_id=round_id, member_id__in=members)
                .values_list("member_id", "points", "exact_hits")
            ):
                present.add(member_id)
                rows.append((KIND_ROUND, round_id, member_id, points, exact_hits))
            rows += [(KIND_ROUND, round_id, m, None, None) for m in members if m not in present]
        for league_id, member_id in LeagueMembership.objects.filter(
            member_id__in=list(totals), league__tournament_id=self.tournament_id
        ).values_list("league_id", "member_id"):
            rows.append((KIND_LEAGUE, league_id, member_id, *totals[member_id]))
        return rows


def _moves(delta: tuple[int, int, int, int]) -> dict:
    """The ORM update that moves a standing's columns by `delta` (in MOVED order)."""
    return {column: F(column) + value for column, value in zip(MOVED, delta)}
