from django.urls import path

from apps.ingestion.apis import ExecutionDetailApi, IngestionCreateApi

urlpatterns = [
    path("admin/ingestions", IngestionCreateApi.as_view(), name="admin-ingestion-create"),
    path("admin/executions/<int:execution_id>", ExecutionDetailApi.as_view(), name="admin-execution-detail"),
]
