"""query_validated answers exactly as the serializer would, whichever path it takes."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apps.common.serializers import query_validated
from apps.leaderboards.boards.serializers import LeaderboardAroundInputSerializer, TournamentLeaderboardInputSerializer

VALUES = st.one_of(
    st.integers(min_value=-5, max_value=200_000_000).map(str),
    st.sampled_from(["", " 7", "+3", "1.0", "1e3", "abc", "０", "10 ", "99999999999999999999"]),
)


def _serializer_answer(serializer_class, request):
    serializer = serializer_class(data=request.query_params)
    return dict(serializer.validated_data) if serializer.is_valid() else "invalid"


def _answer(serializer_class, request):
    try:
        return dict(query_validated(serializer_class, request))
    except ValidationError:
        return "invalid"


@settings(max_examples=300)
@given(params=st.dictionaries(st.sampled_from(["limit", "offset", "round", "other"]), VALUES, max_size=4))
@pytest.mark.parametrize("serializer_class", [TournamentLeaderboardInputSerializer, LeaderboardAroundInputSerializer])
def test_the_fast_path_agrees_with_the_serializer(serializer_class, params):
    request = Request(APIRequestFactory().get("/", params))
    assert _answer(serializer_class, request) == _serializer_answer(serializer_class, request)
