from rest_framework import serializers

from apps.common.serializers import StrictBooleanField, StrictIntegerField
from apps.guesses.models import MAX_GOALS, Guess
from apps.guesses.selectors import guess_points, guess_provisional
from apps.members.serializers import MemberRefSerializer

MAX_ID = 2**63 - 1


class GuessInputSerializer(serializers.Serializer):
    home_goals = StrictIntegerField(min_value=0, max_value=MAX_GOALS)
    away_goals = StrictIntegerField(min_value=0, max_value=MAX_GOALS)
    joker = StrictBooleanField(
        required=False, help_text="Set (true) or take off (false) your joker on this guess; left as it is when absent."
    )
    move_joker = StrictBooleanField(
        default=False, help_text="Over the round's allowance, move the joker here from another open match of the round."
    )


class GuessOutputSerializer(serializers.ModelSerializer):
    """A guess with its points: null until the match's current score is settled, provisional while in play.

    Expects guesses from the selectors (annotated with `settled`, match,
    tournament and round loaded); a guess without `settled` counts as unsettled.
    """

    match = serializers.IntegerField(source="match_id")
    points = serializers.SerializerMethodField()
    provisional = serializers.SerializerMethodField(
        help_text="The points are live: the match is in play and they follow its score."
    )

    class Meta:
        model = Guess
        fields = ["match", "home_goals", "away_goals", "joker", "points", "provisional", "updated_at"]

    def get_points(self, guess: Guess) -> int | None:
        return guess_points(guess=guess, settled=getattr(guess, "settled", False))

    def get_provisional(self, guess: Guess) -> bool:
        return guess_provisional(guess=guess, settled=getattr(guess, "settled", False))


class MatchGuessOutputSerializer(GuessOutputSerializer):
    member = MemberRefSerializer()

    class Meta(GuessOutputSerializer.Meta):
        fields = ["match", "member", "home_goals", "away_goals", "joker", "points", "provisional", "updated_at"]


class MyGuessFilterSerializer(serializers.Serializer):
    tournament = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    round = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)


class TopScoreSerializer(serializers.Serializer):
    home_goals = serializers.IntegerField()
    away_goals = serializers.IntegerField()
    count = serializers.IntegerField()


class GuessSummaryOutputSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Guesses on the match.")
    home_win = serializers.IntegerField(help_text="Guesses of a home win.")
    draw = serializers.IntegerField()
    away_win = serializers.IntegerField()
    jokers = serializers.IntegerField(help_text="Guesses carrying the round's joker.")
    top_scores = TopScoreSerializer(
        many=True, help_text="The 10 most guessed scores, most guessed first; ties by home goals, then away goals."
    )
