"""Run one ingestion now, with a progress bar, and print its report."""

import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.ingestion.models import Execution, Provider
from apps.ingestion.services import ingestion_run


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise CommandError(f"--option takes KEY=VALUE, got {text!r}.")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


class Command(BaseCommand):
    help = (
        "Ingest fixtures and results from a provider into a tournament (created on first use, "
        "with the source recorded as its data source). Exits non-zero when the ingestion fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--provider", required=True, choices=Provider.values)
        parser.add_argument(
            "--source",
            required=True,
            help="A file path or an https URL (football-data: a competition code such as WC, or a URL).",
        )
        parser.add_argument("--tournament", dest="slug", help="Tournament slug (default: derived from the provider's name).")
        parser.add_argument("--operation", default=Execution.Operation.FULL, choices=Execution.Operation.values)
        parser.add_argument("--name", help="Tournament name when it is created (default: the provider's).")
        parser.add_argument("--time-zone", help="IANA zone for kickoff times without an offset (e.g. Asia/Qatar).")
        parser.add_argument(
            "--option", action="append", default=[], metavar="KEY=VALUE", help="A provider option, e.g. speed=1400."
        )
        parser.add_argument("--no-progress", action="store_true", help="Do not draw the progress bar.")

    def handle(self, *args, provider, source, slug, operation, name, time_zone, option, no_progress, **kwargs):
        options = dict(_option(text) for text in option)
        if time_zone:
            options["time_zone"] = time_zone
        bar = None

        def progress(stage: str, done: int, total: int) -> None:
            nonlocal bar
            if no_progress:
                return
            if bar is None:
                bar = tqdm(total=total, desc=stage, unit="match", file=self.stderr._out)
            bar.update(done - bar.n)

        try:
            execution = ingestion_run(
                provider=provider,
                source=source,
                tournament_slug=slug,
                operation=operation,
                options=options,
                tournament_name=name,
                trigger="command",
                progress=progress,
            )
        finally:
            if bar is not None:
                bar.close()
        self.stdout.write(json.dumps(execution.report, indent=2, ensure_ascii=False, default=str))
        if execution.status != Execution.Status.COMPLETED:
            raise CommandError(f"Ingestion #{execution.pk} failed: {execution.error}")
        matches = execution.report.get("matches", {})
        self.stdout.write(
            self.style.SUCCESS(
                f"Ingestion #{execution.pk} completed: {execution.report['tournament']['name']}, "
                f"{matches.get('created', 0)} matches created, {matches.get('updated', 0)} updated, "
                f"{matches.get('unchanged', 0)} unchanged, {execution.report.get('changes', 0)} changes."
            )
        )
