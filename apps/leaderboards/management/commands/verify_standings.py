"""Check the standing invariant of SCORING.md in the database and in Redis.

    manage.py verify_standings [--tournament ID] [--database-only]

Exits 1 listing the first differences when any standing, round standing or
sorted set differs from what the guesses, results and awards say.
"""

import sys

from django.core.management.base import BaseCommand

from apps.leaderboards.settlement.verify import standings_verify, tournaments_with_standings
from apps.leaderboards.boards.projection_read import RedisError, projection_enabled


class Command(BaseCommand):
    help = "Verify every standing against the guesses and awards, and every leaderboard set against the standings."

    def add_arguments(self, parser):
        parser.add_argument("--tournament", type=int, help="Only this tournament id.")
        parser.add_argument("--database-only", action="store_true", help="Skip the Redis projection.")

    def handle(self, *args, **options):
        tournament_ids = [options["tournament"]] if options["tournament"] else tournaments_with_standings()
        check_redis = projection_enabled() and not options["database_only"]
        failed = False
        for tournament_id in tournament_ids:
            try:
                differences = standings_verify(tournament_id=tournament_id, projection_too=check_redis)
            except RedisError as exc:
                self.stderr.write(f"tournament {tournament_id}: Redis does not answer: {exc}")
                failed = True
                continue
            if differences:
                failed = True
                self.stderr.write(f"tournament {tournament_id}: {len(differences)} difference(s), first ones:")
                for difference in differences[:20]:
                    self.stderr.write(f"  {difference}")
            else:
                where = "database and Redis" if check_redis else "database"
                self.stdout.write(f"tournament {tournament_id}: standings exact ({where})")
        if failed:
            sys.exit(1)
