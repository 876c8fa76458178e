"""Folding names into keys, shared by every app that matches a name typed or fed in to a stored one."""

import unicodedata


def name_key(name: str) -> str:
    """Case- and accent-insensitive key: NFKD, combining marks dropped, casefolded, spaces collapsed.

    "Curaçao", "CURACAO" and "curacao " share one key, so two providers naming a
    team differently in case or accents (or staff typing it in the admin) do
    not create it twice.
    """
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())
