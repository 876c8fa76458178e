"""Recompute the match achievements of tournaments from their guesses and final results.

    manage.py rebuild_achievements [--tournament ID]

Hands out what is missing and takes back what no longer holds (first_exact,
hat_trick, perfect_round; snapshot achievements are left alone). Runs under
each tournament's lock, so it never interleaves with a settlement.
"""

from django.core.management.base import BaseCommand

from apps.leaderboards.achievements.evaluate import achievements_rebuild
from apps.leaderboards.boards.locks import tournament_lock
from apps.leaderboards.settlement.verify import tournaments_with_standings


class Command(BaseCommand):
    help = "Recompute first_exact, hat_trick and perfect_round from the guesses and the final results."

    def add_arguments(self, parser):
        parser.add_argument("--tournament", type=int, help="Only this tournament id.")

    def handle(self, *args, **options):
        tournament_ids = [options["tournament"]] if options["tournament"] else tournaments_with_standings()
        for tournament_id in tournament_ids:
            with tournament_lock(tournament_id=tournament_id):
                result = achievements_rebuild(tournament_id=tournament_id)
            self.stdout.write(
                f"tournament {tournament_id}: {len(result.earned)} handed out, {result.revoked} taken back"
            )
