"""Rebuild the Redis projection of the leaderboards from the database.

    manage.py rebuild_leaderboards [--tournament ID]

Safe while settlement runs: each tournament is rebuilt under its tournament
lock and every set is swapped in whole.
"""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.common.audit import Action, audit_record
from apps.leaderboards.boards.projection_read import RedisError, projection_enabled, redis_client
from apps.leaderboards.boards.projection_write import projection_rebuild
from apps.leaderboards.models import RoundStanding, Standing
from apps.leaderboards.settlement.verify import tournaments_with_standings
from apps.leagues.models import LeagueMembership


class Command(BaseCommand):
    help = "Rebuild every leaderboard sorted set (tournament, round, league) from the database."

    def add_arguments(self, parser):
        parser.add_argument("--tournament", type=int, help="Only this tournament id.")

    def handle(self, *args, **options):
        if not projection_enabled():
            raise CommandError("REDIS_URL is not set: there is no projection to rebuild.")
        try:
            redis_client().ping()
        except RedisError as exc:
            raise CommandError(f"Redis does not answer at REDIS_URL: {exc}")
        tournament_ids = [options["tournament"]] if options["tournament"] else tournaments_with_standings()
        for tournament_id in tournament_ids:
            leagues = LeagueMembership.objects.filter(league__tournament_id=tournament_id).count()
            rows = (
                Standing.objects.filter(tournament_id=tournament_id).count()
                + RoundStanding.objects.earned().filter(round__tournament_id=tournament_id).count()
                + leagues
            )
            with tqdm(
                total=rows, desc=f"tournament {tournament_id}", unit="row", file=self.stderr, disable=None
            ) as bar:
                built = projection_rebuild(tournament_id=tournament_id, progress=bar.update)
            # After the fact: the rebuild writes Redis, which no transaction covers.
            audit_record(
                actor="command:rebuild_leaderboards",
                action=Action.LEADERBOARD_REBUILT,
                target=("tournament", tournament_id),
                after=dict(built),
            )
            self.stdout.write(
                f"tournament {tournament_id}: {built['members']} members, {built['rounds']} round tables, "
                f"{built['leagues']} leagues ({leagues} memberships)"
            )
