from django.urls import path

from apps.common.audit_apis import AuditListApi

urlpatterns = [
    path("admin/audit", AuditListApi.as_view(), name="admin-audit-list"),
]
