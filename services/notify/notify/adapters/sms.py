"""Sending SMS through an HTTP gateway: Twilio's Programmable Messaging API.

POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json with form fields To, From, Body and
HTTP basic auth (Account SID, Auth Token). 201 with a JSON message resource ("sid") on success;
errors are JSON bodies {"code", "message", "more_info", "status"}. Which errors are worth
retrying: 429 (code 20429) and 5xx, timeouts, refused connections; 401 (code 20003, wrong
credentials) too, so a misconfiguration is fixed without losing messages (max_attempts still
bounds it). Any other 4xx (21211 invalid 'To', 21610 unsubscribed, 21614 not a mobile...) is
permanent. Error details name only status and code: the provider's message echoes the number.
"""

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from notify.domain.errors import PermanentDeliveryError, TransientDeliveryError
from notify.settings import NotifySettings

RETRYABLE_4XX = {401, 408, 429}
DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class SmsReceipt:
    provider_ref: str


class TwilioSmsSender:
    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        sid = settings.sms_account_sid
        self.url = (f"{settings.sms_base_url.rstrip('/')}/2010-04-01/Accounts/"
                    f"{urllib.parse.quote(sid, safe='')}/Messages.json")
        token = f"{sid}:{settings.sms_auth_token.get_secret_value()}".encode()
        self.authorization = "Basic " + base64.b64encode(token).decode()

    def send(self, to: str, body: str) -> SmsReceipt:
        """Hand one message to the gateway; raises Permanent/TransientDeliveryError."""
        form = urllib.parse.urlencode({"To": to, "From": self.settings.sms_from, "Body": body})
        request = urllib.request.Request(
            self.url, data=form.encode(), method="POST",
            headers={"Authorization": self.authorization,
                     "Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.settings.sms_timeout) as response:
                payload = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            code = _error_code(exc)
            detail = f"twilio HTTP {exc.code} code {code}"
            if exc.code in RETRYABLE_4XX or exc.code >= 500:
                raise TransientDeliveryError(detail) from None
            raise PermanentDeliveryError(detail) from None
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets, a non-JSON body
            raise TransientDeliveryError(f"twilio unreachable: {type(exc).__name__}") from None
        return SmsReceipt(provider_ref=str(payload.get("sid", ""))[:64])


def _error_code(exc: urllib.error.HTTPError) -> int | None:
    try:
        code = json.loads(exc.read() or b"{}").get("code")
    except (OSError, ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None


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
