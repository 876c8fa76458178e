"""Provider adapters: each turns one source's payload into a normalized Feed.

An adapter has two steps so an execution can log them separately:
`load(source, options)` reads the raw payload (file or HTTPS) and
`parse(payload, options)` validates it into a Feed; `fetch` does both.
"""

from apps.ingestion.normalize import IngestionError
from apps.ingestion.providers.base import Provider
from apps.ingestion.providers.football_data import FootballDataProvider
from apps.ingestion.providers.openfootball import OpenfootballProvider
from apps.ingestion.providers.replay import ReplayProvider
from apps.ingestion.providers.sofascore import SofascoreProvider

PROVIDERS: dict[str, type[Provider]] = {
    cls.name: cls for cls in (OpenfootballProvider, FootballDataProvider, SofascoreProvider, ReplayProvider)
}


def provider_get(name: str) -> Provider:
    try:
        return PROVIDERS[name]()
    except KeyError:
        raise IngestionError(f"Unknown provider {name!r}; choose one of {', '.join(sorted(PROVIDERS))}.") from None


__all__ = ["PROVIDERS", "Provider", "provider_get"]
