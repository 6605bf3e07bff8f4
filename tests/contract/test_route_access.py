"""Every route of every service declares who may call it, and each declaration holds.

The table is built at collection time from the apps themselves (built against a database they
never connect to), so each (service, method, path, caller) is its own test. A route added
without `**allow(...)`, `**PUBLIC` or `**PATIENT_LINK` fails `test_route_declares_who_may_call_it`
under its own name.

FastAPI 0.165 keeps an included router in `app.routes` as one entry rather than copying its
routes, so the table walks `fastapi.routing.iter_route_contexts` (what FastAPI's own OpenAPI
generation walks) to reach every `APIRoute`, hidden ones (`include_in_schema=False`) included.
"""

import uuid
from dataclasses import dataclass

import jwt
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from clinic_shared.auth.client_tokens import FhirClientIdentity, issue_client_token
from clinic_shared.auth.keys import generate_key_pair
from clinic_shared.auth.patient_links import PatientLinks
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from tests.support.apps import SERVICES, blueprint_apps, service_apps

PUBLIC = "public"
PATIENT_LINK = "patient-link"
FHIR_CLIENT = "fhir-client"  # a FHIR client's token (client credentials) holding the route's scope
ROLES = {role.value for role in Role}
ISSUER, AUDIENCE = "clinic", "clinic-staff"
SECRET_KEY = "route-access-test-secret-key-0123456789"
GARBAGE_LINK = "not-a-valid-link"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Non-FastAPI routes that may exist without a rule: FastAPI's own schema and docs pages, and
# the shared stylesheet (public files, no data).
DOCS_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static"}


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    path: str
    access: tuple[str, ...] | None  # None: the route declares no rule
    in_schema: bool
    path_params: tuple[tuple[str, type], ...]
    fhir_scope: str | None = None  # what a FHIR route's client token must hold

    @property
    def label(self) -> str:
        return f"{self.service} {self.method} {self.path}"

    @property
    def roles(self) -> list[Role]:
        return [Role(value) for value in self.access or () if value in ROLES]


def api_routes(app: FastAPI):
    """(route context, APIRoute) for every FastAPI route of the app, nested routers included."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context, context.original_route


def route_table(service: str, app: FastAPI) -> list[Route]:
    table = []
    for context, route in api_routes(app):
        extra = context.openapi_extra or {}
        access = extra.get("x-access")
        params = tuple((param.name, param.field_info.annotation)
                       for param in route.dependant.path_params)
        for method in sorted(context.methods or ()):
            table.append(Route(service, method, context.path,
                               None if access is None else tuple(access),
                               context.include_in_schema, params, extra.get("x-fhir-scope")))
    return table


ROUTES = [route for service, app in blueprint_apps().items()
          for route in route_table(service, app)]


# --- who calls --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    name: str
    expect: str  # "401", "403", "404" or "passes" (neither 401 nor 403)
    role: Role | None = None  # token role; None: no token
    token: str = "valid"  # valid | expired | foreign-key | wrong-audience | unknown-role
    fhir_scope: str | None = None  # a FHIR client's token with this scope (not a staff token)
    link: str = "garbage"  # what fills {token}: garbage | forged


def callers_for(route: Route) -> list[Caller]:
    if route.access is None:
        return []
    if PUBLIC in route.access:
        return [Caller("anonymous", "passes")]
    if FHIR_CLIENT in route.access:
        return [Caller("anonymous", "401"), Caller("staff-token", "401", role=Role.admin),
                Caller("client-without-the-scope", "403", fhir_scope="system/Slot.none"),
                Caller("client-with-the-scope", "passes", fhir_scope=route.fhir_scope)]
    if PATIENT_LINK in route.access:
        return [Caller("garbage-link", "404"),
                Caller("forged-link", "404", link="forged"),
                Caller("staff-token-with-garbage-link", "404", role=Role.admin)]
    allowed = route.roles
    if not allowed:
        return []
    some_allowed = Role.admin if Role.admin in allowed else allowed[0]
    callers = [Caller("anonymous", "401")]
    callers += [Caller(f"{kind}-token", "401", role=some_allowed, token=kind)
                for kind in ("expired", "foreign-key", "wrong-audience", "unknown-role")]
    callers += [Caller(f"role-{role.value}", "403", role=role)
                for role in Role if role not in allowed]
    callers += [Caller(f"allowed-{role.value}", "passes", role=role) for role in allowed]
    return callers


CASES = [pytest.param(route, caller, id=f"{route.label}::{caller.name}")
         for route in ROUTES for caller in callers_for(route)]


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def apps(make_database, infra, auth_keys, tmp_path_factory) -> dict[str, FastAPI]:
    return service_apps(make_database, infra.amqp_url, auth_keys,
                        tmp_path_factory.mktemp("mail-sink"),
                        booking={"secret_key": SECRET_KEY})


@pytest.fixture(scope="module")
def clients(apps):
    made = {service: TestClient(app, raise_server_exceptions=False, follow_redirects=False)
            for service, app in apps.items()}
    yield made
    for client in made.values():
        client.close()


@pytest.fixture(scope="module")
def foreign_private_key() -> str:
    return generate_key_pair()[0]


def bearer(caller: Caller, auth_keys, foreign_private_key: str,
           therapist_id: uuid.UUID) -> dict[str, str]:
    if caller.fhir_scope is not None:
        client = FhirClientIdentity("access-test", "access test", None,
                                    frozenset({caller.fhir_scope}))
        return {"Authorization": "Bearer " + issue_client_token(
            auth_keys[0], ISSUER, "clinic-fhir", client, 600)}
    if caller.role is None:
        return {}
    principal = Principal(subject=f"access-test-{caller.role.value}", role=caller.role,
                          therapist_id=therapist_id if caller.role is Role.therapist else None)
    private_key, audience, ttl = auth_keys[0], AUDIENCE, None
    if caller.token == "expired":
        ttl = -120
    elif caller.token == "foreign-key":
        private_key = foreign_private_key
    elif caller.token == "wrong-audience":
        audience = "some-other-service"
    token = TokenIssuer(private_key, ISSUER, audience).issue(principal, ttl_seconds=ttl)
    if caller.token == "unknown-role":  # re-signed with the right key: only the role is wrong
        claims = jwt.decode(token, options={"verify_signature": False})
        token = jwt.encode({**claims, "role": "superuser"}, auth_keys[0], algorithm="RS256",
                           headers=jwt.get_unverified_header(token))
    return {"Authorization": f"Bearer {token}"}


def fill_path(route: Route, caller: Caller, some_id: uuid.UUID) -> str:
    values = {}
    for name, kind in route.path_params:
        if name == "token":
            values[name] = (PatientLinks("a-different-secret-key").token_for(some_id)
                            if caller.link == "forged" else GARBAGE_LINK)
        elif kind is uuid.UUID:
            values[name] = str(some_id)
        elif kind is int:
            values[name] = "1"
        else:
            values[name] = "x"
    return route.path.format(**values)


# --- tests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("route", ROUTES, ids=[route.label for route in ROUTES])
def test_route_declares_who_may_call_it(route):
    assert route.access is not None, (
        f"{route.label} declares no access rule: add **allow(Role...), **PUBLIC or "
        "**PATIENT_LINK (clinic_shared.auth.access) to its decorator")
    assert route.access, f"{route.label} declares an empty access rule"
    unknown = set(route.access) - ROLES - {PUBLIC, PATIENT_LINK, FHIR_CLIENT}
    assert not unknown, f"{route.label} names unknown callers {sorted(unknown)}"
    if PUBLIC in route.access or PATIENT_LINK in route.access or FHIR_CLIENT in route.access:
        assert len(route.access) == 1, f"{route.label} mixes public/patient-link with roles"
    if PATIENT_LINK in route.access:
        assert "token" in dict(route.path_params), (
            f"{route.label} is a patient-link route without a {{token}} in its path")


@pytest.mark.parametrize("service", SERVICES)
def test_schema_and_routes_agree_and_every_operation_carries_its_rule(service, apps):
    app = apps[service]
    live = route_table(service, app)
    assert {r.label for r in live} == {r.label for r in ROUTES if r.service == service}, (
        "the app built for these tests has other routes than the one the table was built from "
        "(routes that depend on settings?)")
    in_schema = {(r.method.lower(), r.path): r for r in live if r.in_schema}
    document = app.openapi()
    operations = {(method, path): operation
                  for path, item in document["paths"].items()
                  for method, operation in item.items()
                  if method in {"get", "put", "post", "delete", "patch", "head", "options"}}
    assert set(operations) == set(in_schema)
    for key, operation in operations.items():
        label = f"{service} {key[0].upper()} {key[1]}"
        assert "x-access" in operation, f"{label}: its OpenAPI operation has no x-access"
        assert tuple(operation["x-access"]) == in_schema[key].access, label
        if in_schema[key].roles:
            assert operation.get("security"), f"{label}: guarded but documents no security"


@pytest.mark.parametrize("service", SERVICES)
def test_only_fastapi_docs_routes_live_outside_the_rules(service, apps):
    """A plain Starlette route or a mount would bypass `allow`: only FastAPI's docs may."""
    others = [getattr(context, "path", repr(context))
              for context in iter_route_contexts(apps[service].routes)
              if not isinstance(context.original_route, APIRoute)]
    assert set(others) <= DOCS_PATHS, f"{service}: routes outside the access rules: {others}"


@pytest.mark.parametrize(("route", "caller"), CASES)
def test_route_refuses_whom_it_should(route, caller, clients, auth_keys, foreign_private_key):
    some_id = uuid.uuid4()
    headers = bearer(caller, auth_keys, foreign_private_key, some_id)
    response = clients[route.service].request(
        route.method, fill_path(route, caller, some_id), headers=headers,
        json={} if route.method in WRITE_METHODS else None)
    where = f"{route.label} as {caller.name}: {response.status_code} {response.text[:300]}"
    if caller.expect == "passes":
        assert response.status_code not in (401, 403), where
        assert response.status_code < 500, where
    else:
        assert response.status_code == int(caller.expect), where
    if caller.expect == "401":
        expected = 'Bearer realm="fhir", error="invalid_token"' if FHIR_CLIENT in (
            route.access or ()) else "Bearer"
        assert response.headers.get("www-authenticate") == expected, where


# Rules that are part of a route's design, pinned: the matrix above proves each route does what
# it declares, not that the declaration is the intended one (a loosened rule would pass it).
PINNED_ACCESS = {
    # the triage engine reads any text for reception; a therapist has no triage queue
    ("referral", "POST", "/api/suggestions"): ("admin", "receptionist"),
    # a treating therapist reads their own patients' appointments (others' answer 404, as
    # missing ones: tests/e2e/test_staff_access.py); changing them stays with the desk
    ("booking", "GET", "/api/appointments/{appointment_id}"):
        ("admin", "receptionist", "therapist"),
    ("booking", "GET", "/api/appointments/{appointment_id}/calendar.ics"):
        ("admin", "receptionist", "therapist"),
    ("booking", "POST", "/api/appointments/{appointment_id}/cancel"): ("admin", "receptionist"),
    ("booking", "POST", "/api/appointments/{appointment_id}/reschedule"):
        ("admin", "receptionist"),
    # a physio (therapist) opens and answers the e-mail conversation of a request referred to
    # them or of an e-mail inquiry nobody is assigned to yet (the clinic's physios share the
    # inquiries mailbox); any other request's answers 404, as a missing one
    # (tests/integration/test_inquiry_access.py)
    ("booking", "GET", "/api/appointment-requests/{request_id}/emails"):
        ("admin", "receptionist", "therapist"),
    ("booking", "POST", "/api/appointment-requests/{request_id}/emails"):
        ("admin", "receptionist", "therapist"),
    # the entry page, where the conversation is answered: the same rule (referral's
    # domain/entry_access.py); the entry's work panel (assign, call back, book) stays the desk's
    ("referral", "GET", "/board/{entry_id}"): ("admin", "receptionist", "therapist"),
    ("referral", "GET", "/board/{entry_id}/work"): ("admin", "receptionist"),
}


@pytest.mark.parametrize(("key", "access"), PINNED_ACCESS.items(),
                         ids=[" ".join(key) for key in PINNED_ACCESS])
def test_pinned_routes_declare_their_designed_rule(key, access):
    declared = {(r.service, r.method, r.path): r.access for r in ROUTES}
    assert key in declared, f"{' '.join(key)} is not a route any more"
    assert declared[key] == access
