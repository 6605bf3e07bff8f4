"""referral.assigned: the patient hears who will contact them, on their channel, once."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from clinic_shared.messaging.contracts import ReferralAssignedV1
from clinic_shared.messaging.envelope import Envelope
from notify.adapters.tables import Notification
from notify.bootstrap import bootstrap
from notify.domain.messages import MessageRenderer
from notify.handlers import on_referral_assigned
from notify.settings import NotifySettings
from tests.integration.test_notify_contact_back import (  # noqa: F401
    add_request,
    database_url,
    sessions,
)


def test_assignment_tells_patient_the_therapist_without_clinical_detail(sessions):  # noqa: F811
    request = add_request(sessions, channel="sms")
    phoned = add_request(sessions, channel="phone")
    for req in (request, phoned):
        data = ReferralAssignedV1(
            referral_id=uuid.uuid4(), request_id=req.request_id, therapist_id=uuid.uuid4(),
            therapist_name="Priya Shah", discipline="rehab_physio", mode="clinic",
            assigned_at=datetime.now(UTC))
        with sessions.begin() as session:
            on_referral_assigned(session, data, Envelope.wrap(data, "referral"),
                                 bootstrap(NotifySettings(_env_file=None)))
    with sessions() as session:
        [owed] = session.scalars(select(Notification)
                                 .where(Notification.kind == "therapist_assigned")).all()
        text = MessageRenderer(NotifySettings(_env_file=None)).sms(owed)
    assert owed.request_id == request.request_id and owed.channel == "sms"
    assert "Priya Shah" in text and request.reference in text
    assert "rehab" not in text.lower() and "knee" not in text.lower()
