from rest_framework import serializers


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
    rank_delta = serializers.IntegerField(
        allow_null=True,
        help_text="Rank at the latest rank snapshot minus rank now (positive: climbed); null before the first "
        "snapshot, for a member not in it, and on round tables (they have no snapshots).",
    )


class LeaderboardPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Participants ranked (the same as total).")
    total = serializers.IntegerField(help_text="Participants ranked.")
    version = serializers.IntegerField(help_text="Grows with every change of the board.")
    as_of = serializers.CharField(help_text="When the board last changed (ISO 8601, UTC).")
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = LeaderboardRowSerializer(many=True)


class LeaderboardAroundOutputSerializer(serializers.Serializer):
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
    settled_guesses = serializers.IntegerField()
    rounds = MemberRoundStatsSerializer(many=True)


class MemberHistoryEntrySerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(help_text="When the snapshot was taken.")
    rank = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Participants ranked in that snapshot.")
    points = serializers.IntegerField()


class SnapshotJobOutputSerializer(serializers.Serializer):
    job_id = serializers.CharField(help_text="The id of the job recording the snapshot (it appears in the audit entry).")
