from __future__ import annotations

from typing import ClassVar

from apps.ingestion.normalize import Feed


class Provider:
    """One data source. Subclasses set `name` and implement `load` and `parse`."""

    name: ClassVar[str]

    def load(self, *, source: str, options: dict) -> object:
        raise NotImplementedError

    def parse(self, payload: object, *, options: dict) -> Feed:
        raise NotImplementedError

    def fetch(self, *, source: str, options: dict | None = None) -> Feed:
        options = options or {}
        return self.parse(self.load(source=source, options=options), options=options)
