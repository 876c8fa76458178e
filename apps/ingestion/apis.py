"""Staff operations: queue an ingestion, follow an execution."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.errors import NotFound
from apps.ingestion.selectors import execution_get
from apps.ingestion.serializers import (
    ExecutionOutputSerializer,
    IngestionInputSerializer,
    IngestionQueuedOutputSerializer,
)
from apps.ingestion.services import ingestion_enqueue
from apps.matches.models import Tournament


class IngestionCreateApi(APIView):
    """Queue an ingestion from the tournament's data source; answers before any provider is called."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="admin_ingestions_create",
        request=IngestionInputSerializer,
        responses={
            202: IngestionQueuedOutputSerializer,
            404: OpenApiResponse(description="tournament_not_found"),
            409: OpenApiResponse(description="no_data_source: the tournament has no data source to ingest from."),
        },
    )
    def post(self, request):
        payload = IngestionInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        tournament = Tournament.objects.filter(pk=payload.validated_data["tournament"]).first()
        if tournament is None:
            raise NotFound("tournament_not_found", f"No tournament has id {payload.validated_data['tournament']}.")
        execution = ingestion_enqueue(
            tournament=tournament,
            operation=payload.validated_data["operation"],
            triggered_by=request.user,
            trigger="api",
        )
        return Response(IngestionQueuedOutputSerializer(execution).data, status=status.HTTP_202_ACCEPTED)


class ExecutionDetailApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(operation_id="admin_executions_read", responses=ExecutionOutputSerializer)
    def get(self, request, execution_id: int):
        return Response(ExecutionOutputSerializer(execution_get(execution_id=execution_id)).data)
