"""RFC 9457 problem details: the one error shape of the REST API, and the one place errors become HTTP.

Every error under ``/api/`` answers ``application/problem+json``::

    {"type": "urn:keyprofile-portal:problem:invalid", "title": "Invalid input", "status": 400,
     "detail": "The name is taken.", "code": "invalid", "errors": {"name": ["..."]}}

``code`` is stable (scripts switch on it); ``errors`` (field to messages) is present for invalid input.
``problem_exception_handler`` is DRF's ``EXCEPTION_HANDLER``: it maps DRF's exceptions, Django's
``ValidationError`` / ``Http404`` / ``PermissionDenied``, domain errors (``portal.errors.PortalError``:
400, or 409 when ``conflict``) and anything unexpected (a logged 500, or 503 for an unreachable database).
``api_not_found`` and ``api_server_error`` do the same for what never reaches a DRF view (unknown paths,
errors in middleware).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from portal.errors import PortalError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:keyprofile-portal:problem:"
API_PATH_PREFIX = "/api/"

# ValidationError codes that mean "well formed, but clashes with the current state": answered 409. Django's
# unique checks (full_clean) use the first two, answered with the code "name_taken"; services raising a
# ValidationError about an object in use give it the code "in_use" (or another listed here).
_UNIQUE_CODES = frozenset({"unique", "unique_together"})
CONFLICT_CODES = _UNIQUE_CODES | {"name_taken", "in_use", "sandbox_undeletable"}


class Conflict(exceptions.APIException):
    """409: the request clashes with the current state (a name taken, an object in use)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class PreconditionFailed(exceptions.APIException):
    """412: ``If-Match`` names another version than the current one."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The resource changed since you read it (If-Match does not match its ETag)."
    default_code = "precondition_failed"


class PayloadTooLarge(exceptions.APIException):
    """413: the request body is larger than the API accepts."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable; try again shortly."
    default_code = "service_unavailable"


def problem(
    status_code: int,
    *,
    code: str,
    detail: str,
    errors: Mapping[str, list[str]] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """The problem document for an answer with ``status_code``."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": title or HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = dict(errors)
    return body


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{"field.sub": [messages]}``; errors not tied to a field under ``""``."""
    if isinstance(detail, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = "" if key in {"non_field_errors", "__all__"} else str(key)
            for field, messages in _flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    if isinstance(detail, list):
        flat = {}
        for index, item in enumerate(detail):
            nested = isinstance(item, Mapping | list)
            field = f"{prefix}[{index}]" if nested else prefix
            for name, messages in _flatten(item, field).items():
                flat.setdefault(name, []).extend(messages)
        return flat
    return {prefix: [str(detail)]}


def _first_code(detail: Any) -> str | None:
    if isinstance(detail, exceptions.ErrorDetail):
        return detail.code
    if isinstance(detail, Mapping):
        detail = list(detail.values())
    if isinstance(detail, list):
        for item in detail:
            found = _first_code(item)
            if found:
                return found
    return None


def _summary(errors: Mapping[str, list[str]]) -> str:
    parts = [f"{field}: {' '.join(messages)}" if field else " ".join(messages) for field, messages in errors.items()]
    return "; ".join(parts)


def _validation_problem(errors: dict[str, list[str]], *, code: str, status_code: int = 400) -> dict[str, Any]:
    title = "Conflict" if status_code == status.HTTP_409_CONFLICT else "Invalid input"
    return problem(status_code, code=code, detail=_summary(errors), errors=errors, title=title)


def _django_validation_problem(error: DjangoValidationError) -> dict[str, Any]:
    if hasattr(error, "error_dict"):
        errors = {("" if f == "__all__" else f): messages for f, messages in error.message_dict.items()}
        codes = {e.code or "invalid" for errs in error.error_dict.values() for e in errs}
    else:
        errors = {"": error.messages}
        codes = {e.code or "invalid" for e in error.error_list}
    if codes and codes <= CONFLICT_CODES:
        named = {"name_taken" if code in _UNIQUE_CODES else code for code in codes}
        code = named.pop() if len(named) == 1 else "conflict"
        return _validation_problem(errors, code=code, status_code=status.HTTP_409_CONFLICT)
    return _validation_problem(errors, code="invalid")


def _domain_problem(error: PortalError) -> dict[str, Any]:
    status_code = status.HTTP_409_CONFLICT if error.conflict else status.HTTP_400_BAD_REQUEST
    errors = {error.field: [str(error)]} if error.field else None
    return problem(status_code, code=error.code, detail=str(error), errors=errors)


def _api_exception_problem(exc: exceptions.APIException) -> dict[str, Any]:
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        return _validation_problem(errors, code=_first_code(exc.detail) or "invalid")
    detail = exc.detail
    code = exc.get_codes() if not isinstance(detail, list | dict) else exc.default_code
    if isinstance(exc, exceptions.Throttled):
        code = "throttled"
    return problem(exc.status_code, code=str(code), detail=str(detail))


class ProblemJSONRenderer(JSONRenderer):
    media_type = PROBLEM_CONTENT_TYPE
    format = "problem+json"


def _problem_response(body: dict[str, Any], context: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    request = context.get("request")
    if request is not None:
        # Problems are always JSON, whatever Accept asked for (the browsable API would render HTML).
        request.accepted_renderer = ProblemJSONRenderer()
        request.accepted_media_type = PROBLEM_CONTENT_TYPE
    response = Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's ``EXCEPTION_HANDLER``: every exception raised in an API view becomes a problem response."""
    headers: dict[str, str] = {}
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc) or "The request is malformed.")
    elif isinstance(exc, IntegrityError):
        # A unique constraint lost to a concurrent request between full_clean() and save().
        exc = Conflict("The name is taken (a concurrent request took it first).", code="name_taken")
    elif isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable", exc_info=exc)
        exc = ServiceUnavailable()
        headers["Retry-After"] = "5"

    if isinstance(exc, exceptions.APIException):
        auth_header = getattr(exc, "auth_header", None)  # set by APIView for 401s
        if auth_header:
            if isinstance(exc, exceptions.AuthenticationFailed) and auth_header.startswith("Bearer"):
                auth_header += ', error="invalid_token"'  # RFC 6750 section 3.1: a key was given but is refused
            headers["WWW-Authenticate"] = auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(max(1, int(exc.wait)))  # type: ignore[attr-defined]  # Throttled
        body = _api_exception_problem(exc)
    elif isinstance(exc, DjangoValidationError):
        body = _django_validation_problem(exc)
    elif isinstance(exc, PortalError):
        body = _domain_problem(exc)
    else:
        if isinstance(exc, DatabaseError):
            logger.error("database error in an API view", exc_info=exc)
        else:
            logger.error("unexpected error in an API view", exc_info=exc)
        body = problem(500, code="server_error", detail="The server failed to answer; the log has the details.")
    from rest_framework.views import set_rollback  # here: rest_framework.views imports the parsers, which import us

    set_rollback()
    return _problem_response(body, context, headers)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PATH_PREFIX)


def problem_json_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JsonResponse:
    """A problem document as a plain Django response, for answers made outside DRF."""
    response = JsonResponse(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


def api_not_found(request: HttpRequest) -> JsonResponse:
    """The 404 of a path under /api/ that no route matches."""
    return problem_json_response(problem(404, code="not_found", detail=f"No API resource at {request.path}."))


def api_server_error(error: BaseException | None) -> JsonResponse:
    """The 500 (or 503 for an unreachable database) of an error raised outside an API view under /api/."""
    if isinstance(error, OperationalError | InterfaceError):
        body = problem(503, code="service_unavailable", detail=ServiceUnavailable.default_detail)
        return problem_json_response(body, {"Retry-After": "5"})
    return problem_json_response(
        problem(500, code="server_error", detail="The server failed to answer; the log has the details.")
    )
