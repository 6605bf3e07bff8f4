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

from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from clinic_shared.auth.access import PUBLIC
from clinic_shared.log import get_logger
from clinic_shared.web.refusals import refusal
from notify.adapters.sms import signature_valid
from notify.api.dependencies import SessionsDep, SettingsDep
from notify.domain.inbound_sms import record_reply

log = get_logger(__name__)

PATH = "/api/sms/inbound"
SIGNATURE_HEADER = "X-Twilio-Signature"
FORM = "application/x-www-form-urlencoded"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
DOCUMENTED = {**PUBLIC["openapi_extra"], "requestBody": {"required": True, "content": {
    FORM: {"schema": {"type": "object", "required": ["From", "To", "MessageSid"],
                      "properties": {name: {"type": "string"} for name in (
                          "From", "To", "Body", "MessageSid", "AccountSid")}}}}}}

router = APIRouter()


@router.post(PATH, tags=["sms"], response_class=Response, openapi_extra=DOCUMENTED,
             responses=refusal(400, "The form is not UTF-8")
             | refusal(403, f"{SIGNATURE_HEADER} does not match the request")
             | refusal(415, f"Not sent as {FORM}")
             | {200: {"description": "empty TwiML: no reply is sent",
                      "content": {"text/xml": {}}}})
async def sms_inbound(request: Request, settings: SettingsDep,
                      sessions: SessionsDep) -> Response:
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
