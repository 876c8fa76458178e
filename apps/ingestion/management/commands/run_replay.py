"""Play a finished tournament as a live feed until stopped (Ctrl-C or SIGTERM).

Each tick runs the replay provider through an ordinary ingestion, so matches
move scheduled -> live -> finished at their scaled kickoff times, their score
moves goal by goal in between, and every result goes through the same
settlement path as a real provider's. Between ticks the command sleeps until
the next kickoff, goal or final whistle on the compressed timeline (at most
--interval seconds), so a quiet stretch of the tournament costs no executions.
When the last match is finished, the bonus questions its final answers (the
winner, the goals) are settled.
"""

import signal
import threading
import time
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from django.utils import timezone

from apps.ingestion.models import DataSource, Execution
from apps.ingestion.providers.replay import DEFAULT_LEAD_SECONDS
from apps.ingestion.services import ingestion_run
from apps.matches.models import Match, Tournament
from apps.matches.question_services import bonus_questions_settle_from_final

# Ticks land just after a transition, never just before it.
_AFTER = timedelta(milliseconds=50)
OPEN_STATUSES = (Match.Status.SCHEDULED, Match.Status.LIVE, Match.Status.POSTPONED)


class Command(BaseCommand):
    help = "Replay a finished tournament file (openfootball) as a live feed, time compressed by --speed."

    def add_arguments(self, parser):
        parser.add_argument("--tournament", required=True, help="Slug of the replay tournament (created on first use).")
        parser.add_argument("--source", required=True, help="openfootball JSON file (or https URL) of a finished tournament.")
        parser.add_argument(
            "--speed", type=float, required=True, help="Time compression, e.g. 1400 plays a 29-day World Cup in about 30 minutes."
        )
        parser.add_argument("--interval", type=float, default=5.0, help="Longest pause between ticks, in seconds (default 5).")
        parser.add_argument(
            "--lead",
            type=float,
            default=DEFAULT_LEAD_SECONDS,
            help=f"Seconds before the first kickoff when a replay starts (default {DEFAULT_LEAD_SECONDS:g}).",
        )
        parser.add_argument("--name", help="Tournament name when it is created (default: '<file name> (replay)').")
        parser.add_argument("--exit-when-finished", action="store_true", help="Stop once every match is finished.")
        parser.add_argument("--max-seconds", type=float, help="Stop after this many seconds whatever the state.")

    def handle(self, *args, tournament, source, speed, interval, lead, name, exit_when_finished, max_seconds, **options):
        if speed <= 0:
            raise CommandError("--speed must be greater than zero.")
        if interval <= 0:
            raise CommandError("--interval must be greater than zero.")
        self._stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        deadline = time.monotonic() + max_seconds if max_seconds else None
        try:
            self._loop(
                slug=tournament,
                source=source,
                speed=speed,
                interval=interval,
                lead=lead,
                name=name,
                exit_when_finished=exit_when_finished,
                deadline=deadline,
            )
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum, frame) -> None:
        self._stop.set()

    def _loop(self, *, slug, source, speed, interval, lead, name, exit_when_finished, deadline) -> None:
        options = {"speed": speed, "lead_seconds": lead, "replay_resume": True}
        first, last_counts, announced_end = True, None, False
        self.stdout.write(f"Replaying {source} into {slug!r} at {speed:g}x; Ctrl-C stops.")
        while not self._stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                self.stdout.write("Stopping: --max-seconds reached.")
                return
            complete = self._is_complete(slug)
            if not complete:
                execution = ingestion_run(
                    provider="replay",
                    source=source,
                    tournament_slug=slug,
                    operation="full",
                    options=options,
                    tournament_name=name,
                    trigger="command",
                )
                if execution.status != Execution.Status.COMPLETED:
                    if first:
                        raise CommandError(f"The replay could not start: {execution.error}")
                    self.stderr.write(f"Tick #{execution.pk} failed, trying again: {execution.error}")
                first = False
                # Only the first tick resumes; later ones follow the stored timeline.
                options = {"speed": speed, "lead_seconds": lead}
                counts = self._counts(slug)
                if counts != last_counts:
                    self.stdout.write(
                        f"{timezone.now():%H:%M:%S}  "
                        + "  ".join(f"{status} {count}" for status, count in sorted(counts.items()))
                    )
                    self.stdout.flush()
                    last_counts = counts
                complete = self._is_complete(slug)
            if complete:
                if not announced_end:
                    self.stdout.write(self.style.SUCCESS("The replay has played to the end."))
                    self._settle_questions(slug)
                    announced_end = True
                if exit_when_finished:
                    return
                self._stop.wait(timeout=self._remaining(deadline, interval * 12))
                continue
            self._stop.wait(timeout=self._remaining(deadline, self._pause(slug, interval=interval)))
        self.stdout.write("Replay stopped; it continues from here when started again.")

    def _settle_questions(self, slug: str) -> None:
        tournament_id = Tournament.objects.filter(slug=slug).values_list("pk", flat=True).first()
        settled = bonus_questions_settle_from_final(tournament_id=tournament_id, actor="command:run_replay")
        if settled:
            self.stdout.write(f"Settled {settled} bonus question(s) with the final's result.")

    @staticmethod
    def _remaining(deadline, pause: float) -> float:
        if deadline is None:
            return pause
        return max(0.0, min(pause, deadline - time.monotonic()))

    @staticmethod
    def _counts(slug: str) -> dict[str, int]:
        rows = Match.objects.filter(tournament__slug=slug).values("status").annotate(n=Count("id"))
        return {row["status"]: row["n"] for row in rows}

    @staticmethod
    def _is_complete(slug: str) -> bool:
        if not Tournament.objects.filter(slug=slug, matches__isnull=False).exists():
            return False
        return not Match.objects.filter(tournament__slug=slug, status__in=OPEN_STATUSES).exists()

    @staticmethod
    def _pause(slug: str, *, interval: float) -> float:
        """Seconds until the next kickoff, goal or final whistle (the replay's own note of it), capped at `interval`."""
        options = DataSource.objects.filter(tournament__slug=slug).values_list("options", flat=True).first() or {}
        try:
            due = datetime.fromisoformat(options["replay_next_at"])
        except (KeyError, TypeError, ValueError):
            return interval
        return max(0.0, min(interval, (due + _AFTER - timezone.now()).total_seconds()))
