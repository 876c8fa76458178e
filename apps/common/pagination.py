from rest_framework import pagination


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


def paginated_response(*, queryset, serializer_class, request, view, context: dict | None = None):
    """One page of `queryset` in the shared envelope {count, next, previous, results}.

    For APIViews that list: set `pagination_class = LimitOffsetPagination` on the
    view too, so the schema shows the envelope.
    """
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    serializer = serializer_class(page, many=True, context={"request": request, **(context or {})})
    return paginator.get_paginated_response(serializer.data)
