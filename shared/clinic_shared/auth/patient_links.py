"""A patient's private link: signed, expiring, good for one appointment request only."""

import uuid

from itsdangerous import BadSignature, URLSafeTimedSerializer


class InvalidLink(Exception):
    """Tampered, expired or not a link at all. Deliberately says no more than that."""


class PatientLinks:
    def __init__(self, secret_key: str, max_age_days: int = 30) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="patient-link-v1")
        self.max_age_seconds = max_age_days * 86400

    def token_for(self, request_id: uuid.UUID) -> str:
        return self._serializer.dumps(request_id.hex)

    def request_id(self, token: str) -> uuid.UUID:
        try:
            return uuid.UUID(hex=self._serializer.loads(token, max_age=self.max_age_seconds))
        except (BadSignature, ValueError, TypeError):
            raise InvalidLink from None
