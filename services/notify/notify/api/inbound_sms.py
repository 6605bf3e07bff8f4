"""A patient's text back (Twilio's inbound-message webhook) counts as contact: it stops the clock.

Twilio POSTs the message form-encoded (From, To, Body, MessageSid, AccountSid, ...) to the URL
configured for the number, signed in `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, the
full URL + every POST parameter's name and value, sorted by name)). A missing or wrong signature
is refused with 403, anything but a form with 415; the answer is empty TwiML (no auto-reply).

The sender (E.164, as booking stores numbers) is matched to their most recent request whose
clock still runs; that clock stops and ContactMadeV1 (outcome "patient_replied", by "patient")
is staged, once per MessageSid however often Twilio retries (inbox row, same transaction).
A patient who asked for a call keeps their call-back task: the reply stops the clock, reception
still calls. The body may hold health data: it is only signed over, never logged or stored.

Media type before signature: a JSON body is not Twilio's protocol (415) whatever it carries.
"""

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from clinic_shared.auth.access import PUBLIC
from clinic_shared.log import get_logger
from clinic_shared.messaging.contracts import ContactMadeV1
from clinic_shared.messaging.outbox import add_event
from clinic_shared.web.refusals import refusal
from notify.adapters.tables import ContactClock, RequestContact, inbox, outbox
from notify.settings import NotifySettings

log = get_logger(__name__)

PATH = "/api/sms/inbound"
SIGNATURE_HEADER = "X-Twilio-Signature"
FORM = "application/x-www-form-urlencoded"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
INBOX_CONSUMER = "twilio-inbound-sms"
REPLIED = "patient_replied"
DEFAULT_PORTS = {"https": 443, "http": 80}


def twilio_signature(url: str, params: Sequence[tuple[str, str]], auth_token: str) -> str:
    """What Twilio puts in X-Twilio-Signature for a POST of `params` to `url` (a repeated
    name+value pair counts once, as in Twilio's own helper libraries)."""
    payload = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, with and without its scheme's default port (as Twilio's own
    validators accept either)."""
    parts = urlsplit(url)
    default = DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    variants = [url]
    if parts.port is None and default is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{host}:{default}")))
    elif parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=host)))
    return variants


def signature_valid(url: str, params: Sequence[tuple[str, str]], auth_token: str,
                    signature: str) -> bool:
    if not auth_token or not signature:
        return False
    return any(hmac.compare_digest(twilio_signature(candidate, params, auth_token), signature)
               for candidate in _url_variants(url))


def record_reply(sessions: sessionmaker[Session], sender: str, message_sid: str,
                 now: datetime | None = None) -> uuid.UUID | None:
    """Stop the clock of the sender's latest running request; the request id, or None."""
    now = now or datetime.now(UTC)
    message_id = uuid.uuid5(uuid.NAMESPACE_URL, f"twilio:sms:{message_sid}")
    with sessions.begin() as session:
        first_time = session.execute(
            insert(inbox).values(consumer=INBOX_CONSUMER, event_id=message_id,
                                 event_type="sms.inbound")
            .on_conflict_do_nothing().returning(inbox.c.event_id)).first()
        if first_time is None:
            log.info("sms.inbound_duplicate")
            return None
        clock = session.scalars(
            select(ContactClock)
            .join(RequestContact, RequestContact.request_id == ContactClock.request_id)
            .where(RequestContact.phone == sender, ContactClock.contacted_at.is_(None))
            .order_by(ContactClock.requested_at.desc().nulls_last(),
                      ContactClock.contact_by.desc())
            .limit(1)
            .with_for_update(of=ContactClock)).first()
        if clock is None:
            log.info("sms.inbound_unmatched")
            return None
        clock.contacted_at = now
        clock.contact_outcome = REPLIED
        add_event(session, outbox, ContactMadeV1(
            request_id=clock.request_id, channel="sms", outcome=REPLIED, by="patient", at=now),
            source="notify")
        log.info("sms.inbound_reply", reference=clock.reference)
        return clock.request_id


def inbound_sms_router(settings: NotifySettings, sessions: sessionmaker[Session]) -> APIRouter:
    router = APIRouter()
    documented = {**PUBLIC["openapi_extra"], "requestBody": {"required": True, "content": {
        FORM: {"schema": {"type": "object", "required": ["From", "To", "MessageSid"],
                          "properties": {name: {"type": "string"} for name in (
                              "From", "To", "Body", "MessageSid", "AccountSid")}}}}}}

    @router.post(PATH, tags=["sms"], response_class=Response, openapi_extra=documented,
                 responses=refusal(400, "The form is not UTF-8")
                 | refusal(403, f"{SIGNATURE_HEADER} does not match the request")
                 | refusal(415, f"Not sent as {FORM}")
                 | {200: {"description": "empty TwiML: no reply is sent",
                          "content": {"text/xml": {}}}})
    async def sms_inbound(request: Request) -> Response:
        """The SMS provider's webhook for a patient's reply (Twilio-signed): stops the clock."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != FORM:
            raise HTTPException(415, f"send the message as {FORM}")
        try:
            params = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise HTTPException(400, "the form is not UTF-8") from None
        url = settings.sms_inbound_url or str(request.url)
        if not signature_valid(url, params, settings.sms_auth_token.get_secret_value(),
                               request.headers.get(SIGNATURE_HEADER, "")):
            log.warning("sms.inbound_bad_signature")
            raise HTTPException(403, f"{SIGNATURE_HEADER} does not match this request")
        form = dict(params)
        missing = [name for name in ("From", "MessageSid") if not form.get(name)]
        if missing:
            raise HTTPException(422, [{"field": name, "loc": ["body", name], "type": "missing",
                                       "msg": "Field required"} for name in missing])
        await run_in_threadpool(record_reply, sessions, form["From"], form["MessageSid"])
        return Response(EMPTY_TWIML, media_type="text/xml")

    return router
