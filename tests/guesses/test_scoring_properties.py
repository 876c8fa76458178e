"""Property tests of the points for one guess against SCORING.md "Points for one guess"."""

from hypothesis import given
from hypothesis import strategies as st

from apps.guesses.scoring import ScoringRules, score_guess

goals = st.integers(min_value=0, max_value=99)
scores = st.tuples(goals, goals)
multipliers = st.integers(min_value=1, max_value=10)


@st.composite
def ordered_rules(draw, *, strict: bool = False) -> ScoringRules:
    """Settings the tournament admits: exact >= goal difference >= outcome >= 0 (strictly, to tell cases apart)."""
    gap = 1 if strict else 0
    outcome = draw(st.integers(min_value=gap, max_value=20))
    goal_difference = draw(st.integers(min_value=outcome + gap, max_value=40))
    exact = draw(st.integers(min_value=goal_difference + gap, max_value=60))
    return ScoringRules(points_exact=exact, points_goal_difference=goal_difference, points_outcome=outcome)


def _outcome(score: tuple[int, int]) -> int:
    home, away = score
    return (home > away) - (home < away)


def _reference_points(guess, result, rules: ScoringRules) -> int:
    """The table of SCORING.md read literally: the first case that applies."""
    if guess == result:
        return rules.points_exact
    if result[0] != result[1] and guess[0] - guess[1] == result[0] - result[1]:
        return rules.points_goal_difference
    if _outcome(guess) == _outcome(result):
        return rules.points_outcome
    return 0


@given(guess=scores, result=scores, rules=ordered_rules(), multiplier=multipliers)
def test_points_follow_the_scoring_table_times_the_multiplier(guess, result, rules, multiplier):
    score = score_guess(guess=guess, result=result, rules=rules, multiplier=multiplier)
    assert score.points == _reference_points(guess, result, rules) * multiplier


@given(result=scores, rules=ordered_rules(), multiplier=multipliers)
def test_an_exact_guess_scores_points_exact_and_counts_as_exact_and_outcome(result, rules, multiplier):
    score = score_guess(guess=result, result=result, rules=rules, multiplier=multiplier)
    assert score.points == rules.points_exact * multiplier
    assert score.exact and score.outcome


@given(guess=scores, result=scores, rules=ordered_rules(), multiplier=multipliers)
def test_no_guess_scores_more_than_the_exact_score(guess, result, rules, multiplier):
    exact = score_guess(guess=result, result=result, rules=rules, multiplier=multiplier)
    assert score_guess(guess=guess, result=result, rules=rules, multiplier=multiplier).points <= exact.points


@given(guess=scores, result=scores, rules=ordered_rules(strict=True), multiplier=multipliers)
def test_only_an_identical_guess_is_exact(guess, result, rules, multiplier):
    score = score_guess(guess=guess, result=result, rules=rules, multiplier=multiplier)
    assert score.exact == (guess == result)
    assert (score.points == rules.points_exact * multiplier) == (guess == result)


@given(guess=scores, draw_goals=goals, rules=ordered_rules(strict=True), multiplier=multipliers)
def test_goal_difference_never_counts_for_a_drawn_result(guess, draw_goals, rules, multiplier):
    result = (draw_goals, draw_goals)
    score = score_guess(guess=guess, result=result, rules=rules, multiplier=multiplier)
    assert score.points != rules.points_goal_difference * multiplier


@given(guess_goals=goals, result_goals=goals, rules=ordered_rules(strict=True), multiplier=multipliers)
def test_a_draw_guessed_as_another_draw_is_an_outcome_hit(guess_goals, result_goals, rules, multiplier):
    guess, result = (guess_goals, guess_goals), (result_goals, result_goals)
    score = score_guess(guess=guess, result=result, rules=rules, multiplier=multiplier)
    if guess_goals == result_goals:
        assert score.points == rules.points_exact * multiplier
    else:
        assert score.points == rules.points_outcome * multiplier
        assert score.outcome and not score.exact


@given(guess=scores, result=scores, rules=ordered_rules(strict=True))
def test_a_decisive_result_with_the_right_difference_scores_goal_difference(guess, result, rules):
    score = score_guess(guess=guess, result=result, rules=rules)
    if guess != result and result[0] != result[1] and guess[0] - guess[1] == result[0] - result[1]:
        assert score.points == rules.points_goal_difference and score.outcome and not score.exact


@given(guess=scores, result=scores, rules=ordered_rules(), multiplier=multipliers)
def test_the_multiplier_scales_the_base_points(guess, result, rules, multiplier):
    base = score_guess(guess=guess, result=result, rules=rules, multiplier=1)
    scaled = score_guess(guess=guess, result=result, rules=rules, multiplier=multiplier)
    assert scaled.points == base.points * multiplier
    assert (scaled.exact, scaled.outcome) == (base.exact, base.outcome)


@given(guess=scores, result=scores, rules=ordered_rules(), multiplier=multipliers)
def test_points_are_always_one_of_the_four_awards_times_the_multiplier(guess, result, rules, multiplier):
    score = score_guess(guess=guess, result=result, rules=rules, multiplier=multiplier)
    awards = {0, rules.points_outcome, rules.points_goal_difference, rules.points_exact}
    assert score.points in {award * multiplier for award in awards}


@given(guess=scores, result=scores, rules=ordered_rules(), multiplier=multipliers)
def test_swapping_home_and_away_in_guess_and_result_changes_nothing(guess, result, rules, multiplier):
    straight = score_guess(guess=guess, result=result, rules=rules, multiplier=multiplier)
    swapped = score_guess(guess=guess[::-1], result=result[::-1], rules=rules, multiplier=multiplier)
    assert straight == swapped


@given(guess=scores, result=scores, rules=ordered_rules(strict=True), multiplier=multipliers)
def test_outcome_hit_means_the_guess_named_the_winner_or_the_draw(guess, result, rules, multiplier):
    score = score_guess(guess=guess, result=result, rules=rules, multiplier=multiplier)
    assert score.outcome == (_outcome(guess) == _outcome(result))
    assert score.outcome == (score.points > 0)


def test_the_default_settings_score_the_examples_of_scoring_md():
    def points(guess, result):
        return score_guess(guess=guess, result=result).points

    assert points((2, 1), (2, 1)) == 4
    assert points((3, 2), (2, 1)) == 3
    assert points((3, 0), (2, 1)) == 2
    assert points((1, 1), (2, 2)) == 2
    assert points((0, 1), (2, 1)) == 0
    assert score_guess(guess=(2, 1), result=(2, 1), multiplier=2).points == 8


@given(guess=scores, result=scores, rules=ordered_rules(), multiplier=multipliers)
def test_a_joker_doubles_the_points_and_leaves_the_hits(guess, result, rules, multiplier):
    plain = score_guess(guess=guess, result=result, rules=rules, multiplier=multiplier)
    doubled = score_guess(guess=guess, result=result, rules=rules, multiplier=multiplier, joker=True)
    assert doubled.points == 2 * plain.points == 2 * _reference_points(guess, result, rules) * multiplier
    assert (doubled.exact, doubled.outcome) == (plain.exact, plain.outcome)
