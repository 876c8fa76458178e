"""Load the demo: two World Cups, a few hundred members with guesses and bonus answers, leagues and, on a
development machine, a staff account.

Idempotent: a second run finds everything in place and changes nothing. Kickoffs
of the 2026 tournament are moved so its first match starts about an hour after
the first load; later runs keep them where they are.

The staff account `admin` has a password anyone can read in the README, so it
is created only with DEBUG on (`make run`) or when asked for with
`--allow-demo-admin`; a demo loaded on a server gets no such door.
"""

import os
import random
import time
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.guesses.models import Guess
from apps.ingestion.services import ingestion_run
from apps.leagues.models import League, LeagueMembership
from apps.leagues.services import league_join
from apps.matches.models import BonusAnswer, BonusQuestion, Match, Team, Tournament
from apps.matches.question_services import bonus_question_create
from apps.matches.services import participation_join
from apps.members.models import Member
from apps.members.services import member_names_fold

DATA_DIR = Path(settings.BASE_DIR) / "data" / "openfootball"

WORLD_CUP_2026 = {
    "slug": "world-cup-2026",
    "name": "World Cup 2026",
    "provider": "openfootball",
    "source": DATA_DIR / "worldcup-2026.json",
}
WORLD_CUP_2022_REPLAY = {
    "slug": "world-cup-2022-replay",
    "name": "World Cup 2022 (replay)",
    "provider": "replay",
    "source": DATA_DIR / "worldcup-2022.json",
}

ADMIN_USERNAME = "admin"
# A demo-only default, printed by the command and named in the README; set
# DEMO_ADMIN_PASSWORD to choose another before the first load.
DEFAULT_ADMIN_PASSWORD = "scoreboard-demo-admin"
MEMBER_PASSWORD = "scoreboard-demo"
MEMBER_PREFIX = "demo"
FIRST_KICKOFF_AFTER = timedelta(hours=1)

FIRST_NAMES = (
    "Ana", "Bruno", "Chloe", "Dario", "Emeka", "Fatima", "Gabriel", "Hana", "Ismael", "Julia",
    "Kenji", "Lucia", "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sami", "Tariq",
    "Ulla", "Victor", "Wanjiru", "Xavier", "Yara", "Zoltan", "Amara", "Björn", "Carmen", "Diego",
    "Elif", "Finn", "Giulia", "Hugo", "Ines", "Jonas", "Kofi", "Leila", "Marco", "Noor",
)
LAST_NAMES = (
    "Silva", "Müller", "García", "Okafor", "Rossi", "Nakamura", "Dubois", "Kowalski", "Haddad", "Jensen",
    "Mensah", "Petrov", "Santos", "Yilmaz", "Novak", "Ahmed", "Larsen", "Moreno", "Tanaka", "Costa",
    "Fischer", "Ibrahim", "Lindqvist", "Owusu", "Park", "Quispe", "Romero", "Schmidt", "Traoré", "Vargas",
    "Weber", "Zhang", "Andersen", "Bakker", "Chávez", "Diallo", "Eriksen", "Ferreira", "Gomez", "Hansen",
)

# (name, invite code, tournament slug, how many members besides the owner, owner's index)
LEAGUES = (
    ("Office Pool", "DEMO-OFFICE-POOL", "world-cup-2026", 40, 0),
    ("Five-a-side Friends", "DEMO-FIVE-A-SIDE", "world-cup-2026", 9, 1),
    ("Replay Rivals", "DEMO-REPLAY-RIVALS", "world-cup-2022-replay", 60, 2),
)

# (text, kind, points, who settles it): both are answered by the final, so the replay settles them at its end.
QUESTIONS = (
    ("Who wins the tournament?", BonusQuestion.Kind.TEAM, 10, BonusQuestion.AnsweredBy.TOURNAMENT_WINNER),
    ("How many goals in the final?", BonusQuestion.Kind.NUMBER, 5, BonusQuestion.AnsweredBy.FINAL_GOALS),
)

# Goals a fan guesses for one side: mostly 0 to 2, sometimes more.
_GOAL_WEIGHTS = (26, 36, 22, 10, 4, 2)


class Command(BaseCommand):
    help = "Load the demo tournaments, members, guesses and leagues (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=300, help="How many demo members (default 300).")
        parser.add_argument("--seed", type=int, default=2026, help="Seed of the guesses and leagues.")
        parser.add_argument(
            "--allow-demo-admin",
            action="store_true",
            help=f"Create the staff account {ADMIN_USERNAME!r} with its known password even with DEBUG off "
            "(only on a machine no one else reaches).",
        )

    def handle(self, *args, members: int, seed: int, allow_demo_admin: bool = False, **options):
        started = time.monotonic()
        self._step("World Cup 2026 fixtures")
        world_cup = self._load_fixtures(**WORLD_CUP_2026, shift_to=timezone.now() + FIRST_KICKOFF_AFTER)
        self._step("World Cup 2022 replay fixtures")
        replay = self._load_fixtures(**WORLD_CUP_2022_REPLAY, shift_to=None)
        tournaments = [world_cup, replay]

        self._step(f"{members} demo members")
        people = self._load_members(count=members, seed=seed)
        self._step("joining both tournaments")
        self._join(tournaments=tournaments, members=people)
        self._step("guessing every scheduled match")
        for tournament in tournaments:
            self._guess(tournament=tournament, members=people, seed=seed)
        self._step("bonus questions and answers")
        for tournament in tournaments:
            self._ask(tournament=tournament, members=people, seed=seed)
        self._step("leagues")
        self._load_leagues(members=people)
        admin_password = None
        if settings.DEBUG or allow_demo_admin:
            self._step("staff account")
            admin_password = self._load_admin()

        self.stdout.write(self.style.SUCCESS(f"Demo ready in {time.monotonic() - started:.1f} s."))
        for tournament in tournaments:
            first = Match.objects.filter(tournament=tournament).order_by("kickoff_at").first()
            kickoff = f", first kickoff {first.kickoff_at:%Y-%m-%d %H:%M} UTC" if first else ""
            self.stdout.write(
                f"  {tournament.name} (id {tournament.pk}): "
                f"{Match.objects.filter(tournament=tournament).count()} matches{kickoff}"
            )
        if admin_password is not None:
            self.stdout.write(f"  Admin:  username {ADMIN_USERNAME!r}, password {admin_password!r}")
        else:
            self.stdout.write(
                f"  Admin:  none created, since DEBUG is off and {ADMIN_USERNAME!r} would have a published password. "
                "Create a staff account with `python manage.py createsuperuser`, "
                "or load again with --allow-demo-admin on a machine no one else reaches."
            )
        if people:
            self.stdout.write(f"  Member: username {people[0].username!r}, password {MEMBER_PASSWORD!r}")
        for name, code, slug, *_ in LEAGUES:
            self.stdout.write(f"  League {name!r} ({slug}): invite code {code}")

    def _step(self, text: str) -> None:
        self.stdout.write(f"- {text}...")
        self.stdout.flush()

    # --- tournaments --------------------------------------------------------

    def _load_fixtures(
        self, *, slug: str, name: str, provider: str, source: Path, shift_to: datetime | None
    ) -> Tournament:
        """Ingest a tournament's fixtures once; a tournament that already has matches is left alone."""
        tournament = Tournament.objects.filter(slug=slug).first()
        if tournament is not None and Match.objects.filter(tournament=tournament).exists():
            self.stdout.write(f"  already loaded: {tournament.name}")
            return tournament
        if not source.is_file():
            raise CommandError(f"The demo data file {source} is missing.")
        execution = ingestion_run(
            provider=provider,
            source=str(source.relative_to(settings.BASE_DIR)),
            tournament_slug=slug,
            tournament_name=name,
            operation="fixtures",
            trigger="command",
        )
        if execution.status != execution.Status.COMPLETED:
            raise CommandError(f"Loading {source.name} failed: {execution.error or execution.status}")
        tournament = Tournament.objects.get(slug=slug)
        if shift_to is not None:
            self._shift_kickoffs(tournament=tournament, first_kickoff=shift_to)
        self.stdout.write(f"  {Match.objects.filter(tournament=tournament).count()} matches")
        return tournament

    def _shift_kickoffs(self, *, tournament: Tournament, first_kickoff: datetime) -> None:
        """Move every kickoff by one offset so the first falls at `first_kickoff` (to the minute)."""
        first = Match.objects.filter(tournament=tournament).order_by("kickoff_at").values_list("kickoff_at", flat=True)
        if not first:
            return
        target = first_kickoff.replace(second=0, microsecond=0)
        offset = target - first[0]
        with transaction.atomic():
            Match.objects.filter(tournament=tournament).update(kickoff_at=F("kickoff_at") + offset)
            # Both ends in one statement: the check constraint wants ends_at >= starts_at at every write.
            Tournament.objects.filter(pk=tournament.pk).update(
                starts_at=F("starts_at") + offset, ends_at=F("ends_at") + offset
            )
        tournament.refresh_from_db()

    # --- members ------------------------------------------------------------

    def _load_members(self, *, count: int, seed: int) -> list[Member]:
        rng = random.Random(seed)
        names = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
        if count > len(names):
            raise CommandError(f"At most {len(names)} demo members.")
        display_names = rng.sample(names, count)
        usernames = [f"{MEMBER_PREFIX}{number:03d}" for number in range(1, count + 1)]
        # One hash for every demo member: hashing is deliberately slow, and a
        # few hundred of them would take longer than the rest of the load.
        password = make_password(MEMBER_PASSWORD)
        Member.objects.bulk_create(
            [
                member_names_fold(member=Member(username=username, display_name=display_name, password=password))
                for username, display_name in zip(usernames, display_names, strict=True)
            ],
            ignore_conflicts=True,
        )
        by_username = Member.objects.in_bulk(usernames, field_name="username")
        return [by_username[username] for username in usernames]

    def _join(self, *, tournaments: list[Tournament], members: list[Member]) -> None:
        for tournament in tournaments:
            with transaction.atomic():
                for member in members:
                    participation_join(tournament_id=tournament.pk, member_id=member.pk)

    def _guess(self, *, tournament: Tournament, members: list[Member], seed: int) -> None:
        """Every member guesses every match still open, the same guess on every run."""
        open_matches = list(
            Match.objects.filter(tournament=tournament, status=Match.Status.SCHEDULED, kickoff_at__gt=timezone.now())
            .order_by("kickoff_at", "id")
            .values_list("pk", "round_id")
        )
        matches = [match_id for match_id, _ in open_matches]
        by_round: dict[int, list[int]] = {}
        for match_id, round_id in open_matches:
            by_round.setdefault(round_id, []).append(match_id)
        guesses = []
        for member in members:
            # One generator per member keeps each member's guesses stable
            # whatever else changes between runs.
            rng = random.Random(f"{seed}:{member.username}:{tournament.slug}")
            # About half the members play their joker, on one match of each
            # round (the tournament's default allowance is one per round).
            jokers = set()
            if tournament.jokers_per_round and rng.random() < 0.5:
                jokers = {rng.choice(round_matches) for round_matches in by_round.values()}
            for match_id in matches:
                home, away = rng.choices(range(len(_GOAL_WEIGHTS)), weights=_GOAL_WEIGHTS, k=2)
                guesses.append(
                    Guess(
                        member_id=member.pk,
                        match_id=match_id,
                        home_goals=home,
                        away_goals=away,
                        joker=match_id in jokers,
                    )
                )
        # Written in bulk rather than through guess_submit: tens of thousands of
        # rows, every match is still open, and the members joined above.
        before = Guess.objects.filter(match__tournament=tournament).count()
        Guess.objects.bulk_create(guesses, batch_size=2000, ignore_conflicts=True)
        added = Guess.objects.filter(match__tournament=tournament).count() - before
        self.stdout.write(f"  {tournament.name}: {len(matches)} open matches, {added} new guesses")

    def _ask(self, *, tournament: Tournament, members: list[Member], seed: int) -> None:
        """The two questions of `QUESTIONS`, closing at the first kickoff, and one answer from every member."""
        first = Match.objects.filter(tournament=tournament).order_by("kickoff_at").values_list("kickoff_at", flat=True)
        closes_at = first[0] if first else (tournament.starts_at or timezone.now())
        questions = []
        for text, kind, points, answered_by in QUESTIONS:
            question = BonusQuestion.objects.filter(tournament=tournament, answered_by=answered_by).first()
            if question is None:
                question = bonus_question_create(
                    tournament_id=tournament.pk, text=text, kind=kind, points=points, closes_at=closes_at,
                    answered_by=answered_by, actor="command:load_demo",
                )  # fmt: skip
            questions.append(question)
        teams = list(Team.objects.filter(tournament=tournament).order_by("id").values_list("pk", flat=True))
        answers = []
        for member in members:
            rng = random.Random(f"{seed}:{member.username}:{tournament.slug}:questions")
            for question in questions:
                if question.kind == BonusQuestion.Kind.TEAM:
                    if teams:
                        answers.append(BonusAnswer(question=question, member=member, team_id=rng.choice(teams)))
                else:
                    answers.append(BonusAnswer(question=question, member=member, number=rng.choice(range(7))))
        # In bulk, as the guesses: the members joined above, and the answers
        # are the same on every run (a second load adds none).
        before = BonusAnswer.objects.filter(question__tournament=tournament).count()
        BonusAnswer.objects.bulk_create(answers, batch_size=2000, ignore_conflicts=True)
        added = BonusAnswer.objects.filter(question__tournament=tournament).count() - before
        self.stdout.write(f"  {tournament.name}: {len(questions)} questions, {added} new answers")

    # --- leagues and staff --------------------------------------------------

    def _load_leagues(self, *, members: list[Member]) -> None:
        tournaments = {t.slug: t for t in Tournament.objects.filter(slug__in={slug for _, _, slug, *_ in LEAGUES})}
        for name, code, slug, size, owner_index in LEAGUES:
            if len(members) <= owner_index:
                continue
            owner = members[owner_index]
            # A fixed invite code, unlike the API's random ones, so the README
            # can name it and a second load finds the same league.
            league, _ = League.objects.get_or_create(
                invite_code=code, defaults={"name": name, "tournament": tournaments[slug], "owner": owner}
            )
            # Every n-th member, so leagues overlap the way groups of friends do.
            step = max(1, len(members) // max(1, size))
            chosen = [owner] + [m for m in members[owner_index + 1 :: step] if m.pk != owner.pk][:size]
            with transaction.atomic():
                for member in chosen:
                    league_join(member_id=member.pk, invite_code=code)
            self.stdout.write(f"  {name}: {LeagueMembership.objects.filter(league=league).count()} members")

    def _load_admin(self) -> str:
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or DEFAULT_ADMIN_PASSWORD
        admin = Member.objects.filter(username=ADMIN_USERNAME).first()
        if admin is None:
            Member.objects.create_superuser(
                username=ADMIN_USERNAME, password=password, email="", display_name="Administrator"
            )
        elif not admin.check_password(password):
            self.stdout.write(f"  {ADMIN_USERNAME!r} exists with another password; it is left unchanged")
        return password
