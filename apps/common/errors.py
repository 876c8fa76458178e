"""One exception type for business errors and one handler mapping errors to HTTP.

Every error other than a validation failure answers
`{"detail": "<human sentence>", "code": "<machine_code>"}`.
"""

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A business rule refused the request.

    `code` is machine-readable and stable; `message` is a sentence for people.
    """

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, code: str, message: str, *, status_code: int | None = None, headers: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN


_DEFAULT_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    429: "throttled",
}


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code, headers=exc.headers)

    if isinstance(exc, DjangoValidationError):
        # Model and password validators raised from services answer the same field map as serializers.
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        # An unexpected error: log it with its trace, answer without one.
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return Response(
            {"detail": "The server could not complete this request; it has been logged.", "code": "server_error"},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    if isinstance(exc, exceptions.ValidationError):
        data = response.data
        if not isinstance(data, dict):
            # A non-field list ("Expected a dict") still answers a field map.
            response.data = {"non_field_errors": data if isinstance(data, list) else [data]}
        return response

    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    if isinstance(detail, dict) and "detail" in detail:
        message = str(detail["detail"])
    elif isinstance(detail, (list, dict)):
        message = str(detail)
    else:
        message = str(detail)
    code = getattr(detail, "code", None) if not isinstance(detail, (list, dict)) else None
    if isinstance(detail, dict) and "code" in detail:
        # simplejwt's InvalidToken carries its code inside a dict detail.
        code = str(detail["code"])
    if isinstance(exc, exceptions.Throttled):
        code = "throttled"
    elif isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        code = code if code in {"token_not_valid", "authentication_failed"} else "not_authenticated"
    response.data = {"detail": message, "code": code or _DEFAULT_CODES.get(response.status_code, "error")}
    return response


def not_found(request, exception=None):
    """Django's 404 handler: URLs under /api/ answer the API's shape, the rest Django's page.

    A path that matches no route (`/api/v1/matches/abc`) never reaches a DRF view.
    """
    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        return JsonResponse({"detail": "Nothing is found at this address.", "code": "not_found"}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)
