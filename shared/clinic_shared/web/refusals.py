"""The refusals each route may answer, written into the OpenAPI document with their body.

Refusals that follow from how a route is declared are added to every operation that has them,
when the document is first built: 401 and 403 where `allow(...)` guards it (no or a bad token,
another role, a cookie change without its CSRF token), 404 behind a patient link (a spoiled or
expired link), 413 where a body is sent (the body cap), 400 where a body is read (bytes that are
not UTF-8), 422 where anything is read from the
request, and 503 wherever the database is used or admission control may refuse (every route but
`/healthz`, `/readyz` documenting its own). The ones that
depend on what a route does (404 for an unknown id, 409, 429) each route lists itself, with the
response dicts here: `responses=NOT_FOUND | CONFLICT`.

Every refusal has the body the API sends: `{"detail": "why"}`, or for a field the list the
validation errors use (`field`, `loc`, `msg`, `type`).
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel


class FieldProblem(BaseModel):
    """One bad input: which field, where it was (body, query, header …) and why."""

    field: str
    loc: list[str | int]
    msg: str
    type: str


class Refusal(BaseModel):
    """Why the request was refused: in words, or field by field."""

    detail: str | list[FieldProblem]


Responses = dict[int | str, dict[str, Any]]


def refusal(status: int, description: str) -> Responses:
    return {status: {"model": Refusal, "description": description}}


def replayed(model: type[BaseModel]) -> Responses:
    """200: a retry with the same Idempotency-Key and body gets the first answer again."""
    return {200: {"model": model, "description": "A retry with the same Idempotency-Key and "
                                                 "body: the first answer again"}}


UNREADABLE = refusal(400, "The body cannot be read (not UTF-8, or not the declared type)")
UNAUTHENTICATED = refusal(401, "Not signed in: no valid staff token")
FORBIDDEN = refusal(403, "Signed in, but not allowed this (role, record, or CSRF token)")
NOT_FOUND = refusal(404, "No such record")
LINK_REFUSED = refusal(404, "The link is not valid (spoiled, expired, or the request is gone)")
CONFLICT = refusal(409, "The record is not in a state that allows this")
TOO_LARGE = refusal(413, "The body is larger than MAX_BODY_BYTES")
INVALID = refusal(422, "A field is missing or wrong: each one named, and why")
TOO_MANY = refusal(429, "Too many requests: Retry-After says when to try again")
UNAVAILABLE = refusal(503, "The database is unavailable, or the API is at its in-flight limit "
                             "(nothing was done): try again after Retry-After seconds")

WITH_BODY = {"post", "put", "patch"}
NO_DATABASE = {"/healthz", "/readyz"}  # /readyz documents its own 503


def declared_refusals(path: str, method: str, operation: dict[str, Any]) -> Responses:
    """What an operation's declaration alone says it may refuse with."""
    found: Responses = {}
    access = operation.get("x-access", [])
    if access and access not in (["public"], ["patient-link"]):
        found |= UNAUTHENTICATED | FORBIDDEN
    if access == ["patient-link"]:
        found |= LINK_REFUSED
    if method in WITH_BODY:
        found |= TOO_LARGE
    if "requestBody" in operation:
        found |= UNREADABLE
    if operation.get("parameters") or "requestBody" in operation:
        found |= INVALID
    if path not in NO_DATABASE:
        found |= UNAVAILABLE
    return found


def document_refusals(app: FastAPI) -> None:
    """Write each operation's declared refusals into the document as it is first built (once
    every route is in place); the ones a route lists itself stay as they are, except FastAPI's
    own 422, which becomes the body this API really sends."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        refusal_schema = Refusal.model_json_schema(ref_template=REF)
        schemas.update(refusal_schema.pop("$defs", {}))
        schemas["Refusal"] = refusal_schema
        for path, item in document.get("paths", {}).items():
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                for status, response in declared_refusals(path, method, operation).items():
                    if str(status) not in responses or _fastapi_default(responses[str(status)]):
                        responses[str(status)] = _documented(response["description"])
        return document

    app.openapi = openapi  # type: ignore[method-assign]


REF = "#/components/schemas/{model}"


def _documented(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": REF.format(model="Refusal")}}}}


def _fastapi_default(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref", "").endswith("/HTTPValidationError")
