"""GET /api/v1/admin/audit: the audit trail for staff (API.md "Operations")."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.views import APIView

from apps.common.audit import Action, audit_entry_list
from apps.common.models import AuditEntry
from apps.common.pagination import DeepListPagination, paginated_response
from apps.common.serializers import DayOrDateTimeField


class AuditFilterSerializer(serializers.Serializer):
    actor = serializers.CharField(
        required=False, max_length=200, help_text="A label (feed:openfootball) or its id part (staff:12)."
    )
    action = serializers.ChoiceField(required=False, choices=Action.ALL)
    target_type = serializers.CharField(required=False, max_length=64, help_text="match, tournament, round, league...")
    target_id = serializers.CharField(required=False, max_length=64)
    since = DayOrDateTimeField(required=False, help_text="A date (from 00:00 UTC) or an ISO 8601 date-time.")


class AuditEntryOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = ("id", "at", "actor", "action", "target_type", "target_id", "before", "after", "request_id")


class AuditListApi(APIView):
    permission_classes = [IsAdminUser]
    # Narrow with the filters rather than paging deep: OFFSET walks every skipped entry.
    pagination_class = DeepListPagination

    @extend_schema(
        operation_id="admin_audit_list",
        parameters=[AuditFilterSerializer],
        responses=AuditEntryOutputSerializer(many=True),
    )
    def get(self, request):
        filters = AuditFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        entries = audit_entry_list(**filters.validated_data)
        return paginated_response(
            queryset=entries, serializer_class=AuditEntryOutputSerializer, request=request, view=self
        )
