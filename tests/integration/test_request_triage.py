"""booking reads what a patient writes with the shared triage engine: free text alone can make a
request urgent (advice at once, per category; no offers; no self-booking, staff still book);
its event is appointment.requested v3 with the reading; erasure clears what was found."""

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.tables import AppointmentRequest, SlotOfferRow, outbox
from booking.api.app import create_app
from booking.bootstrap import bootstrap
from booking.domain.erasure import PatientIdentity, erase_patient
from booking.handlers import handlers as booking_handlers
from booking.operators.demo_schedule import demo_therapist_id, seed_reference_data
from booking.settings import BookingSettings
from booking.worker import build_loops
from clinic_shared.auth.patient_links import PatientLinks
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_session_factory
from clinic_shared.messaging.contracts import AppointmentRequestedV4, ReferralAssignedV1
from clinic_shared.messaging.envelope import Envelope
from clinic_shared.triage import VocabularyError, triage_engine

CAUDA_EQUINA = "I can't feel anything when I wipe and I've wet myself twice today"
NEGATED_TWIN = "Low back ache; no numbness, bladder and bowels fine"
TOM = demo_therapist_id("tom")  # demo rota: virtual 18:00-21:00 London time, every day


def form(reason: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "Bert Example", "email": f"bert.{uuid.uuid4().hex[:8]}@example.org",
        "contact_channel": "email", "mode": "virtual", "reason": reason, "consent": True,
    }
    body.update(overrides)
    return body


@pytest.fixture
def settings(migrated_database, auth_keys) -> BookingSettings:
    url = migrated_database("booking", "triage")
    engine = create_engine(url)
    with make_session_factory(engine).begin() as db:
        seed_reference_data(db, demo_rota=True)
    engine.dispose()
    return BookingSettings(database_url=url, auth_public_key=auth_keys[1])


@pytest.fixture
def sessions(settings) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def api(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def desk(auth_keys) -> dict[str, str]:
    token = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject="desk", role=Role.receptionist))
    return {"Authorization": f"Bearer {token}"}


def submitted(api: TestClient, reason: str) -> dict:
    answer = api.post("/api/appointment-requests", json=form(reason))
    assert answer.status_code == 201, answer.text
    return answer.json()


def requested_event(sessions: sessionmaker[Session], request_id: str) -> dict:
    with sessions() as db:
        [payload] = db.scalars(select(outbox.c.payload).where(
            outbox.c.event_type == "appointment.requested",
            outbox.c.payload["data"]["request_id"].astext == request_id)).all()
    return payload


def token_for(settings: BookingSettings, request_id: str) -> str:
    links = PatientLinks(settings.secret_key.get_secret_value(), settings.patient_link_days)
    return links.token_for(uuid.UUID(request_id))


def assign(settings: BookingSettings, sessions: sessionmaker[Session], request_id: str) -> None:
    """Referral's assignment of Tom (video), handled as booking's consumer would."""
    data = ReferralAssignedV1(
        referral_id=uuid.uuid4(), request_id=uuid.UUID(request_id), therapist_id=TOM,
        therapist_name="Tom Reid", discipline="rehab_physio", mode="virtual",
        assigned_at=datetime.now(UTC))
    with sessions.begin() as db:
        from_referral = booking_handlers(bootstrap(settings))["referral"]
        from_referral[data.event_type](db, data, Envelope.wrap(data, "referral"))


def offers(sessions: sessionmaker[Session], request_id: str) -> list[SlotOfferRow]:
    with sessions() as db:
        return list(db.scalars(select(SlotOfferRow).where(
            SlotOfferRow.request_id == uuid.UUID(request_id))))


def test_free_text_cauda_equina_is_urgent_with_a_and_e_advice(api, sessions, settings) -> None:
    answer = submitted(api, CAUDA_EQUINA)
    engine = triage_engine(settings.triage_vocabulary_file)
    assert answer["urgent"] is True
    first = answer["urgent_actions"][0]
    assert first == {"title": engine.title("cauda_equina"),
                     "advice": engine.advice("cauda_equina")}
    assert "A&E" in first["advice"] and "A&E" in answer["urgent_advice"]
    assert "999" in answer["urgent_advice"] and "111" in answer["urgent_advice"]

    payload = requested_event(sessions, answer["id"])
    assert payload["version"] == 4
    reading = AppointmentRequestedV4.model_validate(payload["data"]).reading
    assert reading.urgent and reading.pathway == "urgent_review"
    phrases = [f.phrase for f in reading.red_flags if f.category == "cauda_equina"]
    assert phrases and all(p.lower() in CAUDA_EQUINA.lower() for p in phrases)
    assert not any(p in str(answer) for p in phrases), "the answer gives advice, not her words"
    with sessions() as db:
        stored = db.get_one(AppointmentRequest, uuid.UUID(answer["id"]))
    assert stored.urgent and stored.red_flags == []
    assert stored.red_flag_categories[0] == "cauda_equina"


def test_the_negated_twin_is_not_urgent(api, sessions) -> None:
    answer = submitted(api, NEGATED_TWIN)
    assert answer["urgent"] is False
    assert answer["urgent_advice"] is None and answer["urgent_actions"] == []
    payload = requested_event(sessions, answer["id"])
    reading = AppointmentRequestedV4.model_validate(payload["data"]).reading
    assert payload["version"] == 4 and not reading.urgent and reading.red_flags == ()
    with sessions() as db:
        stored = db.get_one(AppointmentRequest, uuid.UUID(answer["id"]))
    assert not stored.urgent and stored.red_flag_categories == []


def test_ticked_and_written_red_flags_are_advised_most_urgent_first(api, settings) -> None:
    answer = api.post("/api/appointment-requests", json=form(
        CAUDA_EQUINA, red_flags={"fever": True})).json()
    engine = triage_engine(settings.triage_vocabulary_file)
    titles = [action["title"] for action in answer["urgent_actions"]]
    assert titles[0] == engine.title("cauda_equina") and len(titles) == len(set(titles)) >= 2


def test_no_offers_for_an_urgent_request_and_no_self_booking(api, sessions, settings,
                                                             desk) -> None:
    urgent, plain = submitted(api, CAUDA_EQUINA), submitted(api, NEGATED_TWIN)
    for request in (urgent, plain):
        assign(settings, sessions, request["id"])
    assert offers(sessions, plain["id"]), "the same assignment offers a routine request slots"
    assert offers(sessions, urgent["id"]) == []
    with sessions() as db:
        assert db.scalar(select(outbox.c.id).where(
            outbox.c.event_type == "appointment.offered",
            outbox.c.payload["data"]["request_id"].astext == urgent["id"])) is None

    token = token_for(settings, urgent["id"])
    stray = uuid.uuid4()  # e.g. an offer made before the request was known to be urgent
    refused = api.post(f"/api/my-request/{token}/offers/{stray}/book")
    assert refused.status_code == 409
    assert "clinic will call you" in refused.json()["detail"]

    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    [slot, *_] = api.get("/api/slots", headers=desk, params={
        "therapist_id": str(TOM), "mode": "virtual", "start": start, "days": 1}).json()
    booked = api.post("/api/appointments", headers=desk, json={
        "request_id": urgent["id"], "therapist_id": str(TOM), "starts_at": slot["starts_at"],
        "mode": "virtual"})
    assert booked.status_code == 201, "reception still books an urgent patient"


def test_the_private_page_says_what_to_do_now_without_her_words(api, settings) -> None:
    answer = submitted(api, CAUDA_EQUINA)
    token = token_for(settings, answer["id"])
    engine = triage_engine(settings.triage_vocabulary_file)
    page = api.get(f"/my-request/{token}?new=1")
    assert page.status_code == 200
    advice = engine.advice("cauda_equina").replace("&", "&amp;")
    assert engine.title("cauda_equina") in page.text and advice in page.text
    assert "wet myself" not in page.text and "wipe" not in page.text
    mine = api.get(f"/api/my-request/{token}").json()
    assert mine["urgent_actions"] == answer["urgent_actions"] and mine["offers"] == []
    assert mine["urgent_advice"] == answer["urgent_advice"]


def test_the_page_form_reads_the_text_too(api) -> None:
    sent = api.post("/", data={"name": "Bert Example", "email": "bert.page@example.org",
                               "contact_channel": "email", "mode": "virtual",
                               "reason": CAUDA_EQUINA, "consent": "yes"})
    assert sent.status_code == 200 and "We have your request" in sent.text
    assert 'role="alert"' in sent.text and "A&amp;E" in sent.text


def test_erasure_clears_the_red_flag_categories(api, sessions, settings) -> None:
    answer = api.post("/api/appointment-requests", json=form(
        CAUDA_EQUINA, red_flags={"fever": True}, after_surgery=True, surgery="L5/S1 fusion",
        body_areas=["lower_back"])).json()
    assert len(erase_patient(settings, PatientIdentity.parse(reference=answer["reference"]))) == 1
    with sessions() as db:
        stored = db.get_one(AppointmentRequest, uuid.UUID(answer["id"]))
    assert (stored.red_flag_categories, stored.red_flags, stored.surgery,
            stored.body_areas) == ([], [], None, [])
    assert stored.urgent, "urgency stays, for the SLA counts"


def test_a_malformed_vocabulary_stops_the_api_and_the_worker_as_they_start(
        settings, tmp_path: Path) -> None:
    broken = tmp_path / "vocabulary.yaml"
    broken.write_text("version: 1\nred_flags: [not, a, mapping\n", encoding="utf-8")
    bad = settings.model_copy(update={"triage_vocabulary_file": str(broken)})
    with pytest.raises(VocabularyError, match=re.escape(str(broken))):
        create_app(bad)
    with pytest.raises(VocabularyError, match=re.escape(str(broken))):
        build_loops(bad)
