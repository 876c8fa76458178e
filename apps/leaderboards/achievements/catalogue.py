"""The achievements a member can earn (SCORING.md "Achievements"): codes, names and descriptions, in one place."""

from dataclasses import dataclass

FIRST_EXACT = "first_exact"
HAT_TRICK = "hat_trick"
PERFECT_ROUND = "perfect_round"
TOP_TEN_PERCENT = "top_ten_percent"
CLIMBER = "climber"


@dataclass(frozen=True)
class Entry:
    code: str
    name: str
    description: str


CATALOGUE: tuple[Entry, ...] = (
    Entry(FIRST_EXACT, "First exact", "Your first exact score on a finished match."),
    Entry(
        HAT_TRICK,
        "Hat trick",
        "Exact scores on three consecutive matches (by kickoff) among the matches you guessed, all finished.",
    ),
    Entry(
        PERFECT_ROUND,
        "Perfect round",
        "A finished round in which you guessed at least 3 matches and got at least the outcome of every one right.",
    ),
    Entry(TOP_TEN_PERCENT, "Top 10%", "Within the top 10% of the tournament board at a daily rank snapshot."),
    Entry(
        CLIMBER,
        "Climber",
        "Your rank improved by at least a quarter of the board's members between two consecutive rank snapshots.",
    ),
)

BY_CODE = {entry.code: entry for entry in CATALOGUE}



def achievement_name(code: str) -> str:
    return BY_CODE[code].name
