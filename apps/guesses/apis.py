from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

from apps.common.pagination import DeepListPagination, LimitOffsetPagination, paginated_response
from apps.common.serializers import query_validated
from apps.common.throttles import OneTripUserRateThrottle
from apps.guesses.selectors import guess_get, guess_list_for_member
from apps.guesses.serializers import (
    GuessInputSerializer,
    GuessOutputSerializer,
    GuessSummaryOutputSerializer,
    MatchGuessOutputSerializer,
    MyGuessFilterSerializer,
)
from apps.guesses.services import guess_submit, guesses_reveal, guesses_summary


class MatchGuessApi(APIView):
    permission_classes = [IsAuthenticated]
    # Goals must be JSON integers; a form would send every value as a string.
    parser_classes = [JSONParser]

    @extend_schema(operation_id="matches_guess_read", responses=GuessOutputSerializer)
    def get(self, request, match_id: int):
        guess = guess_get(match_id=match_id, member_id=request.user.pk)
        return Response(GuessOutputSerializer(guess).data)

    @extend_schema(
        operation_id="matches_guess_put",
        request=GuessInputSerializer,
        responses={
            200: GuessOutputSerializer,
            201: GuessOutputSerializer,
            409: OpenApiResponse(
                description="match_locked: the guess window has closed. joker_limit: the round's jokers are used "
                "(or jokers are off); send move_joker to move one from another open match."
            ),
        },
    )
    def put(self, request, match_id: int):
        serializer = GuessInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        guess, created = guess_submit(member_id=request.user.pk, match_id=match_id, **serializer.validated_data)
        return Response(
            GuessOutputSerializer(guess).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class MatchGuessListApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = DeepListPagination

    @extend_schema(
        operation_id="matches_guesses_list",
        description="Everyone's guesses on a match whose guess window has closed. Once shown, the match's "
        "window never reopens, even if its kickoff moves later or lock_minutes is lowered.",
        responses={
            200: MatchGuessOutputSerializer(many=True),
            400: OpenApiResponse(description="offset_too_large: offset above 10000."),
            403: OpenApiResponse(description="match_not_locked: guesses are hidden until the match locks."),
        },
    )
    def get(self, request, match_id: int):
        guesses = guesses_reveal(match_id=match_id, now=timezone.now())
        return paginated_response(
            queryset=guesses, serializer_class=MatchGuessOutputSerializer, request=request, view=self
        )


class MatchGuessSummaryApi(APIView):
    permission_classes = [IsAuthenticated]
    # Served from the cache once counted: no member row is read per request.
    authentication_classes = [JWTStatelessUserAuthentication]
    throttle_classes = [OneTripUserRateThrottle]

    @extend_schema(
        operation_id="matches_guesses_summary",
        description="How everyone guessed a match whose guess window has closed, counted once. Like the list of "
        "guesses, reading it closes the window for good.",
        responses={
            200: GuessSummaryOutputSerializer,
            403: OpenApiResponse(description="match_not_locked: guesses are hidden until the match locks."),
            404: OpenApiResponse(description="match_not_found"),
        },
    )
    def get(self, request, match_id: int):
        summary = guesses_summary(match_id=match_id, now=timezone.now())
        return Response(GuessSummaryOutputSerializer(summary).data)


class MyGuessListApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = LimitOffsetPagination

    @extend_schema(
        operation_id="me_guesses_list", parameters=[MyGuessFilterSerializer], responses=GuessOutputSerializer(many=True)
    )
    def get(self, request):
        filters = query_validated(MyGuessFilterSerializer, request)
        guesses = guess_list_for_member(
            member_id=request.user.pk, tournament_id=filters.get("tournament"), round_id=filters.get("round")
        )
        return paginated_response(queryset=guesses, serializer_class=GuessOutputSerializer, request=request, view=self)
