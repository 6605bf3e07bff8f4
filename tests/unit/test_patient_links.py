"""Patients' links: signed with PATIENT_LINK_KEY (booking and notify alone hold it)."""

import uuid

import pytest

from clinic_shared.auth.patient_links import InvalidLink, PatientLinks

LINK_KEY = "link-key-" + "k" * 40
SECRET_KEY = "secret-key-" + "s" * 40  # every service holds it


def test_booking_opens_the_links_notify_mints_and_those_sent_before_with_the_secret_key():
    booking = PatientLinks(LINK_KEY, 30, also_accept=[SECRET_KEY])
    request_id = uuid.uuid4()
    from_notify = PatientLinks(LINK_KEY, 30).token_for(request_id)
    sent_before = PatientLinks(SECRET_KEY, 30).token_for(request_id)
    assert booking.request_id(from_notify) == booking.request_id(sent_before) == request_id
    assert booking.token_for(request_id) != sent_before, "new links use the link key"
    with pytest.raises(InvalidLink):
        booking.request_id(PatientLinks("someone-else's-key" * 3, 30).token_for(request_id))
