"""Settlement: apply one settlement request of a match to every standing, exactly once.

The path of a request (ARCHITECTURE.md "The path of a finished match"):

1. Take the tournament lock (settlement_locks): one writer per tournament, so
   batches never deadlock and projection writes land in commit order.
2. Claim the request by compare-and-swap on its status, fixing what it
   applies (result, scoring, multiplier, round) and what it moves from (the
   last done request of the match). A newer request of the same match
   supersedes a pending one; an older one left half-way is finished first.
3. Walk the match's guesses in keyset batches of member ids. Each batch moves
   standings and round standings by (new - old) in one statement and commits
   together with the progress cursor, so a job killed anywhere and run again
   applies every guess exactly once.
4. After each commit, a background thread moves the Redis projection with the
   absolute totals the batch returned, while the next batch runs in the
   database. A Redis failure never stops settlement: the projection is marked
   stale and rebuilt.
"""

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.leaderboards.achievements.evaluate import achievements_after_request
from apps.leaderboards.boards.keys import ROUND, BoardKey
from apps.leaderboards.boards.locks import tournament_lock
from apps.leaderboards.boards.metrics import redis_write_errors, timed
from apps.leaderboards.boards.projection_read import (
    RedisError,
    projection_enabled,
    projection_ready,
    redis_failed,
)
from apps.leaderboards.boards.projection_write import (
    KIND_LEAGUE,
    KIND_TOURNAMENT,
    projection_mark_stale,
    projection_move,
    projection_state_write,
)
from apps.leaderboards.boards.services import projection_rebuild_enqueue
from apps.leaderboards.boards.signals import boards_changed_send
from apps.leaderboards.models import BoardState, SettlementRequest
from apps.leaderboards.settlement import metrics
from apps.leaderboards.settlement.in_play import live_matches_refresh
from apps.leaderboards.settlement.sql import Applied, BatchPlan
from apps.matches.models import Match
from apps.matches.services import match_settled_mark

logger = logging.getLogger(__name__)

UNFINISHED = (SettlementRequest.Status.PENDING, SettlementRequest.Status.IN_PROGRESS, SettlementRequest.Status.FAILED)


class ClaimLost(Exception):
    """Another runner took the request over; this one stops without writing."""


class HandedBack(Exception):
    """The runner was asked to stop (its worker shuts down): the request stops after its last committed batch."""


@dataclass
class RunReport:
    outcome: str  # "done", "noop" (already done or superseded), "handed_back" (stopped, pending again)
    request_id: int
    guesses: int = 0
    standings: int = 0
    seconds: float = 0.0
    boards: set[BoardKey] = field(default_factory=set)


def batch_size() -> int:
    return int(getattr(settings, "SETTLEMENT_BATCH_SIZE", 25_000))


def applied_target(*, match: Match, kind: str) -> Applied | None:
    """What a request made now applies: the counted result and scoring, or nothing (a void or unstarted match).

    A match in play applies its current counted score as live points; a
    request claimed later for the same match moves from it by the difference.
    """
    if kind != SettlementRequest.Kind.SETTLE or match.status not in Match.SCORED_STATUSES:
        return None
    result = match.counted_score()
    if result is None:
        return None
    tournament = match.tournament
    return Applied(
        home=result[0],
        away=result[1],
        points_exact=tournament.points_exact,
        points_goal_difference=tournament.points_goal_difference,
        points_outcome=tournament.points_outcome,
        multiplier=match.round.multiplier,
        round_id=match.round_id,
        live=match.status == Match.Status.LIVE,
    )


def applied_request(*, match_id: int) -> SettlementRequest | None:
    """The request whose points the match's guesses currently hold in the standings."""
    return (
        SettlementRequest.objects.filter(match_id=match_id, status=SettlementRequest.Status.DONE)
        .order_by("-finished_at", "-id")
        .first()
    )


def settlement_run(
    *, request_id: int, worker: str | None = None, should_stop: Callable[[], bool] | None = None
) -> RunReport:
    """Run one settlement request to the end (or find it already done); safe to call any number of times.

    `should_stop` is asked after every committed batch; when it answers True
    the request goes back to pending with its progress kept, and the report
    says "handed_back": whoever runs it next resumes at its cursor.
    """
    worker = worker or uuid.uuid4().hex
    try:
        request = SettlementRequest.objects.select_related("match").get(pk=request_id)
    except SettlementRequest.DoesNotExist:
        return RunReport(outcome="noop", request_id=request_id)
    if request.status in (SettlementRequest.Status.DONE, SettlementRequest.Status.SUPERSEDED):
        return RunReport(outcome="noop", request_id=request_id)
    tournament_id = request.match.tournament_id
    started = time.perf_counter()
    with tournament_lock(tournament_id=tournament_id):
        # An older request of this match stopped half-way holds part of the
        # standings at its own result: finish it before moving from it.
        older = (
            SettlementRequest.objects.filter(
                match_id=request.match_id, id__lt=request.pk, status__in=UNFINISHED, started_at__isnull=False
            )
            .order_by("id")
            .values_list("id", flat=True)
        )
        try:
            for older_id in [*older, request_id]:
                report = _run_one(
                    request_id=older_id, tournament_id=tournament_id, worker=worker, should_stop=should_stop
                )
        except HandedBack:
            # Every batch so far is committed with its cursor; releasing the
            # claim lets the next runner resume at once instead of waiting for
            # the sweeper to find a stale heartbeat.
            SettlementRequest.objects.filter(
                match_id=request.match_id, claimed_by=worker, status=SettlementRequest.Status.IN_PROGRESS
            ).update(status=SettlementRequest.Status.PENDING, heartbeat_at=timezone.now())
            logger.info("settlement request %s handed back: its worker is stopping", request_id)
            return RunReport(outcome="handed_back", request_id=request_id)
    report.seconds = time.perf_counter() - started
    if report.outcome == "done":
        metrics.settlement_seconds.labels(kind=request.kind).observe(report.seconds)
        if report.seconds > 0 and report.guesses:
            metrics.settlement_rows_per_second.observe(report.guesses / report.seconds)
    return report


def _claim(*, request_id: int, worker: str) -> SettlementRequest | None:
    """Claim `request_id` for `worker`; None when there is nothing to run (done, superseded)."""
    now = timezone.now()
    with transaction.atomic():
        request = SettlementRequest.objects.select_for_update().select_related("match").get(pk=request_id)
        if request.status in (SettlementRequest.Status.DONE, SettlementRequest.Status.SUPERSEDED):
            return None
        if request.started_at is None:
            if SettlementRequest.objects.filter(match_id=request.match_id, id__gt=request.pk).exists():
                # A newer request moves the match straight to its latest state.
                SettlementRequest.objects.filter(pk=request.pk, status=request.status).update(
                    status=SettlementRequest.Status.SUPERSEDED, finished_at=now
                )
                return None
            match = Match.objects.select_related("tournament", "round").get(pk=request.match_id)
            target = applied_target(match=match, kind=request.kind)
            base = applied_request(match_id=request.match_id)
            claimed = SettlementRequest.objects.filter(pk=request.pk, status=request.status, started_at=None).update(
                status=SettlementRequest.Status.IN_PROGRESS,
                claimed_by=worker,
                heartbeat_at=now,
                started_at=now,
                attempts=F("attempts") + 1,
                base=base,
                applied_home=target.home if target else None,
                applied_away=target.away if target else None,
                applied_points_exact=target.points_exact if target else None,
                applied_points_goal_difference=target.points_goal_difference if target else None,
                applied_points_outcome=target.points_outcome if target else None,
                applied_multiplier=target.multiplier if target else None,
                applied_round_id=target.round_id if target else None,
                applied_live=bool(target and target.live),
                cursor=0,
                projected_cursor=0,
            )
        else:
            # Resuming: what it applies and where it stopped stay as they are.
            # Under the tournament lock nobody else runs it, so any previous
            # claimant is gone (killed, or its message redelivered to us).
            takeover = connection.vendor == "postgresql" or request.claimed_by == worker or _stale(request, now)
            if not takeover:
                raise ClaimLost(f"settlement request {request_id} is being run by {request.claimed_by}")
            claimed = SettlementRequest.objects.filter(
                pk=request.pk, status=request.status, claimed_by=request.claimed_by
            ).update(
                status=SettlementRequest.Status.IN_PROGRESS,
                claimed_by=worker,
                heartbeat_at=now,
                attempts=F("attempts") + 1,
            )
        if claimed != 1:
            raise ClaimLost(f"settlement request {request_id} changed while being claimed")
    return SettlementRequest.objects.select_related("base", "match").get(pk=request_id)


def _stale(request: SettlementRequest, now: datetime) -> bool:
    timeout = getattr(settings, "SETTLEMENT_STUCK_SECONDS", 300)
    return request.heartbeat_at is None or (now - request.heartbeat_at).total_seconds() > timeout


class _Mover:
    """Moves the projection one batch behind the database, on one background thread.

    At most one move is in flight: submitting waits for the previous one, so
    memory holds two batches whatever the number of guesses. The live push of
    each batch runs on the same thread, right after its move, so neither holds
    up the next batch's database work.
    """

    def __init__(self, *, tournament_id: int, enabled: bool):
        self.tournament_id = tournament_id
        self.enabled = enabled
        self.failed = False
        self.projected_cursor: int | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="projection") if enabled else None
        self._pending: tuple[Future, int] | None = None
        self.boards: set[str] = set()

    @property
    def active(self) -> bool:
        return self.enabled and not self.failed

    def submit(self, *, rows: list, version: int, as_of: datetime, hi: int) -> None:
        """Queue this batch's move and live push, once the previous one is done."""
        self.wait()
        if self.active:
            future = self._executor.submit(self._move, rows=rows, version=version, as_of=as_of)
            self._pending = (future, hi)

    def _move(self, **kwargs) -> set[BoardKey]:
        boards = projection_move(tournament_id=self.tournament_id, **kwargs)
        boards_changed_send(boards=_live_boards_of(boards))
        return boards

    def wait(self) -> set[BoardKey]:
        if self._pending is None:
            return set()
        future, hi = self._pending
        self._pending = None
        try:
            boards = future.result()
        except RedisError as exc:
            redis_write_errors.inc()
            redis_failed(exc)
            projection_mark_stale(tournament_id=self.tournament_id)
            # The rest of the job writes the database only; the rebuild catches Redis up.
            self.failed = True
            return set()
        self.projected_cursor = hi
        self.boards |= boards
        return boards

    def close(self) -> None:
        self.wait()
        if self._executor is not None:
            # The live push may have read the database on this thread: close its connection.
            self._executor.submit(lambda: connection.close()).result()
            self._executor.shutdown(wait=True)
            self._executor = None


def _live_boards(tournament_id: int, rows: list) -> set[BoardKey]:
    """The boards a batch moved that live clients watch: the tournament's and its leagues'."""
    boards = {BoardKey.of_tournament(tournament_id)} if rows else set()
    boards.update(BoardKey.of_league(key_id, tournament_id) for kind, key_id, *_ in rows if kind == KIND_LEAGUE)
    return boards


def _live_boards_of(boards: set[BoardKey]) -> set[BoardKey]:
    # Round tables have no live stream.
    return {board for board in boards if board.kind != ROUND}


def _run_one(
    *, request_id: int, tournament_id: int, worker: str, should_stop: Callable[[], bool] | None = None
) -> RunReport:
    request = _claim(request_id=request_id, worker=worker)
    if request is None:
        return RunReport(outcome="noop", request_id=request_id)
    plan = BatchPlan(
        match_id=request.match_id,
        tournament_id=tournament_id,
        old=Applied.of_request(request.base),
        new=Applied.of_request(request),
    )
    state, _ = BoardState.objects.get_or_create(tournament_id=tournament_id)
    project = projection_enabled() and not state.projection_stale
    if project and not projection_ready(tournament_id=tournament_id):
        # Sets never built (or lost with Redis): a rebuild after this job covers them.
        project = False
        projection_mark_stale(tournament_id=tournament_id)
    mover = _Mover(tournament_id=tournament_id, enabled=project)
    _live_matches_refresh(tournament_id=tournament_id, project=project)
    report = RunReport(outcome="done", request_id=request_id)
    size = batch_size()
    pause = float(getattr(settings, "SETTLEMENT_BATCH_PAUSE_SECONDS", 0) or 0)
    try:
        if project and request.projected_cursor < request.cursor:
            # A previous run committed batches it did not project: write their present totals.
            _reproject(plan=plan, mover=mover, lo=request.projected_cursor, hi=request.cursor, state=state)
        while True:
            with timed(metrics.database_write_seconds), transaction.atomic():
                _commit_without_waiting_for_disk()
                cursor, claimed_by, status = (
                    SettlementRequest.objects.select_for_update()
                    .values_list("cursor", "claimed_by", "status")
                    .get(pk=request_id)
                )
                if claimed_by != worker or status != SettlementRequest.Status.IN_PROGRESS:
                    raise ClaimLost(f"settlement request {request_id} was taken over by {claimed_by}")
                walked, hi = plan.bounds(lo=cursor, size=size)
                if not walked:
                    break
                rows = plan.apply(lo=cursor, hi=hi)
                moved = sum(1 for row in rows if row[0] == KIND_TOURNAMENT)
                now = timezone.now()
                if rows:
                    BoardState.objects.filter(tournament_id=tournament_id).update(version=F("version") + 1, as_of=now)
                    version = BoardState.objects.filter(tournament_id=tournament_id).values_list("version", flat=True)[0]
                progress = {
                    "cursor": hi,
                    "guesses_walked": F("guesses_walked") + walked,
                    "standings_moved": F("standings_moved") + moved,
                    "heartbeat_at": now,
                }
                if mover.projected_cursor is not None:
                    progress["projected_cursor"] = mover.projected_cursor
                SettlementRequest.objects.filter(pk=request_id).update(**progress)
            metrics.settlement_guesses.inc(walked)
            report.guesses += walked
            report.standings += moved
            if rows:
                if mover.active:
                    mover.submit(rows=rows, version=version, as_of=now, hi=hi)
                else:
                    boards_changed_send(boards=_live_boards(tournament_id, rows))
            rows = None
            if should_stop is not None and should_stop():
                raise HandedBack(f"settlement request {request_id} stopped at member {hi}")
            if pause:
                time.sleep(pause)
        mover.close()
        with transaction.atomic():
            finished = SettlementRequest.objects.filter(
                pk=request_id, status=SettlementRequest.Status.IN_PROGRESS, claimed_by=worker
            ).update(
                status=SettlementRequest.Status.DONE,
                finished_at=timezone.now(),
                heartbeat_at=timezone.now(),
                projected_cursor=F("cursor") if not mover.failed and project else F("projected_cursor"),
                last_error="",
            )
            if finished != 1:
                raise ClaimLost(f"settlement request {request_id} was taken over before it finished")
            if request.kind == SettlementRequest.Kind.SETTLE and request.applies_points:
                # Points for this result version are now held: the "settled" predicate turns true.
                match_settled_mark(match_id=request.match_id, result_version=request.result_version)
        # Still under the tournament lock: the final results it reads are the ones the standings hold.
        achievements_after_request(request_id=request_id)
    finally:
        mover.close()
    if mover.failed or not project:
        _request_rebuild(tournament_id)
    report.boards = mover.boards
    logger.info(
        "settled %s: %s guesses, %s standings moved", request.idempotency_key, report.guesses, report.standings
    )
    return report


def _live_matches_refresh(*, tournament_id: int, project: bool) -> None:
    """Once a request is claimed: the matches in play its answers show, and the version when they changed.

    Under the tournament lock and before the first batch, so the meta write
    lands before this request's projection moves and after the last one's.
    """
    state = live_matches_refresh(tournament_id=tournament_id)
    if state is None:
        return
    if project:
        try:
            projection_state_write(state=state)
        except RedisError as exc:
            redis_write_errors.inc()
            redis_failed(exc)
            projection_mark_stale(tournament_id=tournament_id)
    # Live clients reload what changed: a kickoff or final whistle may move no row of the top 10.
    boards_changed_send(boards={BoardKey.of_tournament(tournament_id)})


def _commit_without_waiting_for_disk() -> None:
    """Let this batch's commit return before its WAL reaches the disk (PostgreSQL only).

    Waiting for the flush of each batch's WAL was most of a batch's time. A
    database crash can now lose the last batches committed, but only whole:
    their standings and the progress cursor commit in the same transaction,
    so the request resumes before them. The request's final "done" commit
    waits for the disk as usual, which flushes every batch before it.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _reproject(*, plan: BatchPlan, mover: _Mover, lo: int, hi: int, state: BoardState) -> None:
    size = batch_size()
    cursor = lo
    while cursor < hi:
        walked, upper = plan.bounds(lo=cursor, size=size)
        if not walked:
            break
        upper = min(upper, hi)
        state.refresh_from_db()
        rows = plan.current(lo=cursor, hi=upper)
        mover.submit(rows=rows, version=state.version, as_of=state.as_of or timezone.now(), hi=upper)
        cursor = upper
    mover.wait()


def _request_rebuild(tournament_id: int) -> None:
    if projection_enabled():
        projection_rebuild_enqueue(tournament_id=tournament_id)
