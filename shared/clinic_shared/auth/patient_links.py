"""A patient's private link: signed, expiring, good for one appointment request only.

Signed with PATIENT_LINK_KEY, which only booking (its form's answer; it verifies every link) and
notify (the messages it sends) hold; no event carries a link. Links signed before with
SECRET_KEY, which every service holds, are still accepted for the rest of their life
(`also_accept`).
"""

import uuid
from collections.abc import Sequence

from itsdangerous import BadSignature, URLSafeTimedSerializer


class InvalidLink(Exception):
    """Tampered, expired or not a link at all. Deliberately says no more than that."""


class PatientLinks:
    def __init__(self, secret_key: str, max_age_days: int = 30, *,
                 also_accept: Sequence[str] = ()) -> None:
        # itsdangerous signs with the last key and accepts any of them
        keys = [key for key in also_accept if key != secret_key] + [secret_key]
        self._serializer = URLSafeTimedSerializer(keys, salt="patient-link-v1")
        self.max_age_seconds = max_age_days * 86400

    def token_for(self, request_id: uuid.UUID) -> str:
        return self._serializer.dumps(request_id.hex)

    def request_id(self, token: str) -> uuid.UUID:
        try:
            return uuid.UUID(hex=self._serializer.loads(token, max_age=self.max_age_seconds))
        except (BadSignature, ValueError, TypeError):
            raise InvalidLink from None
