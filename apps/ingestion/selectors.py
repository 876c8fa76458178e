from apps.common.errors import NotFound
from apps.ingestion.models import Execution


def execution_get(*, execution_id: int) -> Execution:
    execution = (
        Execution.objects.select_related("tournament", "triggered_by")
        .prefetch_related("steps")
        .filter(pk=execution_id)
        .first()
    )
    if execution is None:
        raise NotFound("execution_not_found", f"No execution has id {execution_id}.")
    return execution
