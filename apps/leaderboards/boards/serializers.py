from rest_framework import serializers

from apps.leaderboards.boards.social import search_prefix


class LeaderboardPageInputSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)
    offset = serializers.IntegerField(min_value=0, max_value=100_000_000, default=0)


class TournamentLeaderboardInputSerializer(LeaderboardPageInputSerializer):
    round = serializers.IntegerField(min_value=1, required=False)


class LeaderboardAroundInputSerializer(serializers.Serializer):
    around = serializers.IntegerField(min_value=0, max_value=50, default=5)


class BoardMemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()


class LeaderboardRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    member = BoardMemberSerializer()
    points = serializers.IntegerField()
    exact_hits = serializers.IntegerField()
    outcome_hits = serializers.IntegerField()
    live_points = serializers.IntegerField(help_text="The part of `points` from matches in play.")
    rank_delta = serializers.IntegerField(
        allow_null=True,
        help_text="Rank at the latest rank snapshot minus rank now (positive: climbed); null before the first "
        "snapshot, for a member not in it, and on round tables (they have no snapshots).",
    )


class LiveMatchSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    home_score = serializers.IntegerField()
    away_score = serializers.IntegerField()


class LiveFieldsSerializer(serializers.Serializer):
    """What every board answer says about the tournament's matches in play, as its rows count them."""

    live = serializers.BooleanField(help_text="A match of the tournament is in play.")
    live_matches = LiveMatchSerializer(many=True, help_text="The matches in play with the score the rows count.")


class LeaderboardPageOutputSerializer(LiveFieldsSerializer):
    count = serializers.IntegerField(help_text="Participants ranked (the same as total).")
    total = serializers.IntegerField(help_text="Participants ranked.")
    version = serializers.IntegerField(help_text="Grows with every change of the board.")
    as_of = serializers.CharField(help_text="When the board last changed (ISO 8601, UTC).")
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = LeaderboardRowSerializer(many=True)


class LeaderboardAroundOutputSerializer(LiveFieldsSerializer):
    total = serializers.IntegerField()
    version = serializers.IntegerField()
    as_of = serializers.CharField()
    me = LeaderboardRowSerializer()
    results = LeaderboardRowSerializer(many=True)


class MemberRoundStatsSerializer(serializers.Serializer):
    round = serializers.IntegerField(help_text="Round id.")
    points = serializers.IntegerField()
    rank = serializers.IntegerField()


class MemberStatsOutputSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    total = serializers.IntegerField()
    percentile = serializers.FloatField(help_text="Share of participants level with or behind the member, in %.")
    points = serializers.IntegerField()
    exact_hits = serializers.IntegerField()
    outcome_hits = serializers.IntegerField()
    live_points = serializers.IntegerField(help_text="The part of `points` from matches in play.")
    settled_guesses = serializers.IntegerField(help_text="Guesses whose points count, in play included.")
    rounds = MemberRoundStatsSerializer(many=True)


class LeaderboardSearchInputSerializer(serializers.Serializer):
    q = serializers.CharField(
        min_length=2,
        max_length=64,
        help_text="The start of a display name or username, 2 to 64 characters; case and accents are ignored.",
    )

    def validate_q(self, value: str) -> str:
        if len(search_prefix(value)) < 2:
            raise serializers.ValidationError("Give at least two letters once case, accents and spaces are dropped.")
        return value


class LeaderboardSearchOutputSerializer(LiveFieldsSerializer):
    total = serializers.IntegerField(help_text="Participants ranked on the board (not the matches).")
    version = serializers.IntegerField()
    as_of = serializers.CharField()
    results = LeaderboardRowSerializer(many=True, help_text="At most 20 matching members, by rank.")


class LeaderboardPreviewRowSerializer(LeaderboardRowSerializer):
    tags = serializers.ListField(
        child=serializers.ChoiceField(choices=["top", "me", "neighbour", "pinned", "last"]),
        help_text="Why the row is listed; a row listed for several reasons carries each.",
    )


class LeaderboardPreviewOutputSerializer(LiveFieldsSerializer):
    total = serializers.IntegerField()
    version = serializers.IntegerField()
    as_of = serializers.CharField()
    results = LeaderboardPreviewRowSerializer(many=True)


class MemberHistoryEntrySerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(help_text="When the snapshot was taken.")
    rank = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Participants ranked in that snapshot.")
    points = serializers.IntegerField()


class SnapshotJobOutputSerializer(serializers.Serializer):
    job_id = serializers.CharField(help_text="The id of the job recording the snapshot (it appears in the audit entry).")
