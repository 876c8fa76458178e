"""Points for one guess (SCORING.md "Points for one guess"). Pure: no Django import."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoringRules:
    points_exact: int = 4
    points_goal_difference: int = 3
    points_outcome: int = 2


@dataclass(frozen=True)
class GuessScore:
    points: int
    exact: bool
    outcome: bool  # at least the outcome right (exact included)


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def score_guess(
    *,
    guess: tuple[int, int],
    result: tuple[int, int],
    rules: ScoringRules = ScoringRules(),
    multiplier: int = 1,
    joker: bool = False,
) -> GuessScore:
    """Score `guess` against the counted `result`; awarded points = base points x multiplier (x 2 with a joker).

    A joker doubles points only: hits count once.
    """
    gh, ga = guess
    rh, ra = result
    if (gh, ga) == (rh, ra):
        base, exact, outcome = rules.points_exact, True, True
    elif rh != ra and gh - ga == rh - ra:
        base, exact, outcome = rules.points_goal_difference, False, True
    elif _sign(gh - ga) == _sign(rh - ra):
        base, exact, outcome = rules.points_outcome, False, True
    else:
        base, exact, outcome = 0, False, False
    return GuessScore(points=base * multiplier * (2 if joker else 1), exact=exact, outcome=outcome)
