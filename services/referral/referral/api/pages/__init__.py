"""Staff pages, server-rendered with the shared look: the triage board, one entry, a caseload,
the clinic lead's SLA dashboard.

Access: each page declares its roles with `allow(...)`'s own `x-access` rule (so the route
table test knows it), but checks the principal inside the route instead of through `allow`'s
guard, so that a browser gets a page rather than JSON:

- not signed in (no or a bad session cookie / token) and the request accepts `text/html` →
  303 to `/sign-in?next=<this page>`; any other client gets the usual 401 + `WWW-Authenticate`;
- signed in with another role → a 403 "not allowed" page.

Changes go through the existing JSON API by `fetch`, with the CSRF double-submit value in the
`X-CSRF-Token` header (the `clinic_csrf` cookie is HTTP-only, so the page carries its value).
The entry page also calls booking (slots, appointments) and notify (call-back log) from the
browser, at `PAGES_BOOKING_URL` / `PAGES_NOTIFY_URL` (the front door's paths by default; those
services allow the staff pages' origin through `CORS_ALLOW_ORIGINS` when it differs). Parts that
change without a reload are fragments these modules also serve: the board's queue (204 while
nothing changed; board.py) and the entry's work panel (entry.py).
"""

from fastapi import APIRouter

from referral.api.pages import board, caseload, dashboard, entry

router = APIRouter(include_in_schema=False)
# the board's fixed paths (/board/queue, /board/events) before the entry's /board/{entry_id}
for group in (board, entry, caseload, dashboard):
    router.include_router(group.router)

__all__ = ["router"]
