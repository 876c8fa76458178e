"""The loop every settlement request runs, whatever it settles (a match's result, a bonus question's answer).

1. Take the tournament lock: one writer per tournament, so batches never
   deadlock and projection writes land in commit order.
2. Claim the request by compare-and-swap on its status, fixing what it
   applies and what it moves from (the last done request of the same match
   or question). A newer request of the same subject supersedes a pending
   one; an older one left half-way is finished first.
3. Walk the subject's rows (guesses, answers) in keyset batches of member
   ids. Each batch moves standings by (new - old) in one statement and
   commits together with the progress cursor, so a job killed anywhere and
   run again applies every row exactly once.
4. After each commit, a background thread moves the Redis projection with the
   absolute totals the batch returned, while the next batch runs in the
   database. A Redis failure never stops settlement: the projection is marked
   stale and rebuilt.

What differs per subject (what a claim fixes, the batch statement, what
"done" records) is a `Job`; `runner.matches` and `runner.questions` build theirs.
"""

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from prometheus_client import Counter

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
)
from apps.leaderboards.boards.services import projection_rebuild_enqueue
from apps.leaderboards.boards.signals import boards_changed_send
from apps.leaderboards.models import BatchedRequest, BoardState
from apps.leaderboards.settlement import metrics

logger = logging.getLogger(__name__)

Status = BatchedRequest.Status
UNFINISHED = (Status.PENDING, Status.IN_PROGRESS, Status.FAILED)


class ClaimLost(Exception):
    """Another runner took the request over; this one stops without writing."""


class HandedBack(Exception):
    """The runner was asked to stop (its worker shuts down): the request stops after its last committed batch."""


@dataclass
class RunReport:
    outcome: str  # "done", "noop" (already done or superseded), "handed_back" (stopped, pending again)
    request_id: int
    rows: int = 0  # guesses or answers walked
    standings: int = 0
    seconds: float = 0.0
    boards: set[BoardKey] = field(default_factory=set)


class Plan(Protocol):
    """The statements of one request's batches (sql.BatchPlan, question_sql.AnswerPlan)."""

    def bounds(self, *, lo: int, size: int) -> tuple[int, int]: ...

    def apply(self, *, lo: int, hi: int) -> list[tuple]: ...

    def current(self, *, lo: int, hi: int) -> list[tuple]: ...


@dataclass(frozen=True)
class Job:
    """What one kind of request does differently inside the shared loop."""

    model: type[BatchedRequest]
    subject: str  # the field naming what the request settles: "match_id", "question_id"
    walked_field: str  # the progress counter of rows walked
    walked_metric: Counter
    tournament_of: Callable[[BatchedRequest], int]
    # In the claim's transaction, on a first claim: the fields it fixes
    # (what it applies, the request it moves from).
    fix: Callable[[BatchedRequest], dict]
    plan: Callable[[BatchedRequest, int], Plan]  # (claimed request, tournament id)
    # In the transaction that marks the request done.
    done: Callable[[BatchedRequest], None]
    # Once claimed, before the first batch, under the tournament lock: (tournament id, projection healthy).
    claimed: Callable[[int, bool], None] | None = None
    # After done, still under the tournament lock: (the request, tournament id, projection healthy).
    after: Callable[[BatchedRequest, int, bool], None] | None = None
    metric_kind: Callable[[BatchedRequest], str] = lambda request: "settle"
    # Rows the claim locks with the request (select_related under FOR UPDATE).
    claim_locks: tuple[str, ...] = ()


def batch_size() -> int:
    return int(getattr(settings, "SETTLEMENT_BATCH_SIZE", 25_000))


def request_run(
    *, job: Job, request_id: int, worker: str | None = None, should_stop: Callable[[], bool] | None = None
) -> RunReport:
    """Run one request of `job`'s kind to the end (or find it already done); safe to call any number of times.

    `should_stop` is asked after every committed batch; when it answers True
    the request goes back to pending with its progress kept, and the report
    says "handed_back": whoever runs it next resumes at its cursor.
    """
    worker = worker or uuid.uuid4().hex
    model = job.model
    try:
        request = model.objects.get(pk=request_id)
    except model.DoesNotExist:
        return RunReport(outcome="noop", request_id=request_id)
    if request.status in (Status.DONE, Status.SUPERSEDED):
        return RunReport(outcome="noop", request_id=request_id)
    tournament_id = job.tournament_of(request)
    subject = {job.subject: getattr(request, job.subject)}
    started = time.perf_counter()
    with tournament_lock(tournament_id=tournament_id):
        # An older request of the same subject stopped half-way holds part of
        # the standings at its own answer: finish it before moving from it.
        older = (
            model.objects.filter(**subject, id__lt=request.pk, status__in=UNFINISHED, started_at__isnull=False)
            .order_by("id")
            .values_list("id", flat=True)
        )
        try:
            for older_id in [*older, request_id]:
                report = _run_one(
                    job=job, request_id=older_id, tournament_id=tournament_id, worker=worker, should_stop=should_stop
                )
        except HandedBack:
            # Every batch so far is committed with its cursor; releasing the
            # claim lets the next runner resume at once instead of waiting for
            # the sweeper to find a stale heartbeat.
            model.objects.filter(**subject, claimed_by=worker, status=Status.IN_PROGRESS).update(
                status=Status.PENDING, heartbeat_at=timezone.now()
            )
            logger.info("%s %s handed back: its worker is stopping", model._meta.verbose_name, request_id)
            return RunReport(outcome="handed_back", request_id=request_id)
    report.seconds = time.perf_counter() - started
    if report.outcome == "done":
        metrics.settlement_seconds.labels(kind=job.metric_kind(request)).observe(report.seconds)
        if report.seconds > 0 and report.rows:
            metrics.settlement_rows_per_second.observe(report.rows / report.seconds)
    return report


def _claim(*, job: Job, request_id: int, worker: str) -> BatchedRequest | None:
    """Claim `request_id` for `worker`; None when there is nothing to run (done, superseded)."""
    model = job.model
    now = timezone.now()
    with transaction.atomic():
        request = model.objects.select_for_update().select_related(*job.claim_locks).get(pk=request_id)
        if request.status in (Status.DONE, Status.SUPERSEDED):
            return None
        if request.started_at is None:
            subject = {job.subject: getattr(request, job.subject)}
            if model.objects.filter(**subject, id__gt=request.pk).exists():
                # A newer request moves the subject straight to its latest state.
                model.objects.filter(pk=request.pk, status=request.status).update(
                    status=Status.SUPERSEDED, finished_at=now
                )
                return None
            claimed = model.objects.filter(pk=request.pk, status=request.status, started_at=None).update(
                status=Status.IN_PROGRESS,
                claimed_by=worker,
                heartbeat_at=now,
                started_at=now,
                attempts=F("attempts") + 1,
                cursor=0,
                projected_cursor=0,
                **job.fix(request),
            )
        else:
            # Resuming: what it applies and where it stopped stay as they are.
            # Under the tournament lock nobody else runs it, so any previous
            # claimant is gone (killed, or its message redelivered to us).
            takeover = connection.vendor == "postgresql" or request.claimed_by == worker or _stale(request, now)
            if not takeover:
                raise ClaimLost(f"{model._meta.verbose_name} {request_id} is being run by {request.claimed_by}")
            claimed = model.objects.filter(pk=request.pk, status=request.status, claimed_by=request.claimed_by).update(
                status=Status.IN_PROGRESS,
                claimed_by=worker,
                heartbeat_at=now,
                attempts=F("attempts") + 1,
            )
        if claimed != 1:
            raise ClaimLost(f"{model._meta.verbose_name} {request_id} changed while being claimed")
    return model.objects.select_related("base").get(pk=request_id)


def _stale(request: BatchedRequest, now: datetime) -> bool:
    timeout = getattr(settings, "SETTLEMENT_STUCK_SECONDS", 300)
    return request.heartbeat_at is None or (now - request.heartbeat_at).total_seconds() > timeout


class Mover:
    """Moves the projection one batch behind the database, on one background thread.

    At most one move is in flight: submitting waits for the previous one, so
    memory holds two batches whatever the number of rows. The live push of
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
    *, job: Job, request_id: int, tournament_id: int, worker: str, should_stop: Callable[[], bool] | None = None
) -> RunReport:
    model = job.model
    request = _claim(job=job, request_id=request_id, worker=worker)
    if request is None:
        return RunReport(outcome="noop", request_id=request_id)
    plan = job.plan(request, tournament_id)
    state, _ = BoardState.objects.get_or_create(tournament_id=tournament_id)
    project = projection_enabled() and not state.projection_stale
    if project and not projection_ready(tournament_id=tournament_id):
        # Sets never built (or lost with Redis): a rebuild after this job covers them.
        project = False
        projection_mark_stale(tournament_id=tournament_id)
    mover = Mover(tournament_id=tournament_id, enabled=project)
    if job.claimed is not None:
        # Before the first batch: what the answers say the boards are moving to (matches in play).
        job.claimed(tournament_id, project)
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
                    model.objects.select_for_update().values_list("cursor", "claimed_by", "status").get(pk=request_id)
                )
                if claimed_by != worker or status != Status.IN_PROGRESS:
                    raise ClaimLost(f"{model._meta.verbose_name} {request_id} was taken over by {claimed_by}")
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
                    job.walked_field: F(job.walked_field) + walked,
                    "standings_moved": F("standings_moved") + moved,
                    "heartbeat_at": now,
                }
                if mover.projected_cursor is not None:
                    progress["projected_cursor"] = mover.projected_cursor
                model.objects.filter(pk=request_id).update(**progress)
            job.walked_metric.inc(walked)
            report.rows += walked
            report.standings += moved
            if rows:
                if mover.active:
                    mover.submit(rows=rows, version=version, as_of=now, hi=hi)
                else:
                    boards_changed_send(boards=_live_boards(tournament_id, rows))
            rows = None
            if should_stop is not None and should_stop():
                raise HandedBack(f"{model._meta.verbose_name} {request_id} stopped at member {hi}")
            if pause:
                time.sleep(pause)
        mover.close()
        with transaction.atomic():
            finished = model.objects.filter(pk=request_id, status=Status.IN_PROGRESS, claimed_by=worker).update(
                status=Status.DONE,
                finished_at=timezone.now(),
                heartbeat_at=timezone.now(),
                projected_cursor=F("cursor") if not mover.failed and project else F("projected_cursor"),
                last_error="",
            )
            if finished != 1:
                raise ClaimLost(f"{model._meta.verbose_name} {request_id} was taken over before it finished")
            job.done(request)
        if job.after is not None:
            job.after(request, tournament_id, project and not mover.failed)
    finally:
        mover.close()
    if mover.failed or not project:
        _request_rebuild(tournament_id)
    report.boards = mover.boards
    logger.info("settled %s: %s rows, %s standings moved", request.idempotency_key, report.rows, report.standings)
    return report


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


def _reproject(*, plan: Plan, mover: Mover, lo: int, hi: int, state: BoardState) -> None:
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
