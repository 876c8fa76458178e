"""The OpenAPI schema lists every error an operation can answer, with the error body's schema.

Generated clients learn the error shape of apps/common/errors.py from here:
`{detail, code}` for every error, and for 400 also DRF's field map of a
validation failure. Which codes an operation lists follows from the view and
the operation, so new views get them without a decorator:

- 400 when the operation takes a body or query parameters (validation);
- 401 when it accepts a token (a bad or expired one is refused) or signs in;
- 403 when a permission beyond "signed in" guards it (staff, say);
- 404 when its path names something by id;
- 429 when it is throttled.

A view's own `extend_schema(responses=...)` entries stay as they are (409s,
403s raised by business rules); those without a body get the error schema.
"""

from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import AllowAny, IsAuthenticated, IsAuthenticatedOrReadOnly

ERROR_COMPONENT = "Error"
VALIDATION_COMPONENT = "ValidationError"

# Added to the schema's components by `postprocess_error_components`.
COMPONENTS = {
    ERROR_COMPONENT: {
        "type": "object",
        "description": "Every error but a validation failure: a sentence for people and a stable machine code.",
        "properties": {
            "detail": {"type": "string", "description": "What went wrong, for people."},
            "code": {"type": "string", "description": "Stable and machine-readable, e.g. not_found, match_locked."},
        },
        "required": ["detail", "code"],
    },
    VALIDATION_COMPONENT: {
        "type": "object",
        "description": "A validation failure: each field (or non_field_errors) with its messages.",
        "additionalProperties": {},
    },
}

_DESCRIPTIONS = {
    400: "Bad input: a field map of validation messages, or {detail, code}.",
    401: "No token, or a bad or expired one (code not_authenticated, token_not_valid or authentication_failed).",
    403: "Signed in but not allowed (code permission_denied or a business code).",
    404: "Nothing is found at this address (code not_found or a business code).",
    409: "Refused by the current state (a business code).",
    429: "Too many requests (code throttled or a business code); Retry-After says when to come back.",
}
_SIGNED_IN_OR_OPEN = (AllowAny, IsAuthenticated, IsAuthenticatedOrReadOnly)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error_content(status_code: int) -> dict:
    if status_code == 400:
        # anyOf, not oneOf: an error body is also an object of some fields.
        schema = {"anyOf": [_ref(ERROR_COMPONENT), _ref(VALIDATION_COMPONENT)]}
    else:
        schema = _ref(ERROR_COMPONENT)
    return {"application/json": {"schema": schema}}


class ErrorResponsesAutoSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        for status_code in self._error_status_codes(operation):
            responses.setdefault(str(status_code), {"description": _DESCRIPTIONS[status_code]})
        for code, response in responses.items():
            if code.isdigit() and 400 <= int(code) < 500 and not response.get("content"):
                response["content"] = _error_content(int(code))
        return operation

    def _error_status_codes(self, operation: dict) -> list[int]:
        codes = []
        parameters = operation.get("parameters", [])
        if "requestBody" in operation or any(p.get("in") == "query" for p in parameters):
            codes.append(400)
        if self._accepts_token(operation) or self._signs_in():
            codes.append(401)
        if any(not isinstance(p, _SIGNED_IN_OR_OPEN) for p in self.view.get_permissions()):
            codes.append(403)
        if any(p.get("in") == "path" for p in parameters):
            codes.append(404)
        if self.view.get_throttles():
            codes.append(429)
        return codes

    @staticmethod
    def _accepts_token(operation: dict) -> bool:
        return any(requirement for requirement in operation.get("security", []))

    def _signs_in(self) -> bool:
        # simplejwt's token views refuse wrong credentials and bad refresh tokens with 401.
        from rest_framework_simplejwt.views import TokenViewBase

        return isinstance(self.view, TokenViewBase)


def postprocess_error_components(result: dict, generator=None, request=None, public=None) -> dict:
    """drf-spectacular postprocessing hook: defines the error bodies the operations refer to."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
    return result
