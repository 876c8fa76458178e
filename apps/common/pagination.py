from rest_framework import pagination

from apps.common.errors import ApplicationError


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    default_limit = 50
    max_limit = 200
    # None: any offset. A list that grows large enough for a deep OFFSET to
    # cost the database a scan sets a cap.
    max_offset: int | None = None

    def get_offset(self, request):
        offset = super().get_offset(request)
        if self.max_offset is not None and offset > self.max_offset:
            raise ApplicationError(
                "offset_too_large", f"offset may be at most {self.max_offset}; narrow the list instead."
            )
        return offset


class DeepListPagination(LimitOffsetPagination):
    """For lists of one row per member (a match's guesses): PostgreSQL walks and drops every skipped row."""

    max_offset = 10_000


def paginated_response(*, queryset, serializer_class, request, view, context: dict | None = None):
    """One page of `queryset` in the shared envelope {count, next, previous, results}.

    For APIViews that list: set `pagination_class` (LimitOffsetPagination or a
    subclass) on the view; it pages the list and the schema shows the envelope.
    """
    paginator = (getattr(view, "pagination_class", None) or LimitOffsetPagination)()
    page = paginator.paginate_queryset(queryset, request, view=view)
    serializer = serializer_class(page, many=True, context={"request": request, **(context or {})})
    return paginator.get_paginated_response(serializer.data)
