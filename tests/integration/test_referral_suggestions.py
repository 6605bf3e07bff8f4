"""`POST /api/suggestions` on referral: the triage engine reads any text for reception (staff
only), answering the pathway, urgency, red flags with advice and reasons quoting the patient,
and storing nothing.

referral's API runs in-process on a freshly migrated database.
"""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.triage import triage_engine
from referral.adapters.tables import TriageEntry, audit, outbox
from tests.support.apps import build_app

# patient Bert's e-mail (domain/clinic-correspondence.txt), as reception pastes it
BERT = ("Hi, I am currently going through rehab post spinal fusion and right hip key hole "
        "surgery. I have lost a lot of flexibility, mobility and strength, and I'm in "
        "desperate need to get back to good fitness levels. What do you offer?")
CAUDA_EQUINA = ("My back has been bad for a week and since this morning I can't feel anything "
                "when I wipe and I couldn't pee properly.")


@pytest.fixture(scope="module")
def url(migrated_database) -> str:
    return migrated_database("referral", "referral_suggestions")


@pytest.fixture(scope="module")
def client(url, infra, auth_keys):
    app = build_app("referral", database_url=url, amqp_url=infra.amqp_url, keys=auth_keys)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def token(auth_keys, role: Role, therapist_id: uuid.UUID | None = None) -> dict[str, str]:
    issued = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject=f"suggest-{role.value}", role=role, therapist_id=therapist_id))
    return {"Authorization": f"Bearer {issued}"}


def suggest(client, headers, **body):
    return client.post("/api/suggestions", headers=headers, json=body)


def test_bert_s_e_mail_suggests_both_with_reasons_in_his_words(client, auth_keys, url):
    engine = create_engine(url)
    with engine.connect() as conn:
        before = [conn.scalar(select(func.count()).select_from(table))
                  for table in (TriageEntry.__table__, outbox, audit)]

    answer = suggest(client, token(auth_keys, Role.receptionist), text=BERT)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"pathway", "urgent", "red_flags", "reasons"}
    assert body["pathway"] == "both"
    assert body["urgent"] is False and body["red_flags"] == []
    assert body["reasons"], "a suggestion says why"
    quoted = [phrase for reason in body["reasons"] for phrase in reason["phrases"]]
    assert quoted and all(phrase.lower() in BERT.lower() for phrase in quoted), quoted
    assert any(word in " ".join(quoted).lower()
               for word in ("flexibility", "mobility", "strength")), quoted
    assert {"rule", "phrases"} == set(body["reasons"][0])

    with engine.connect() as conn:
        after = [conn.scalar(select(func.count()).select_from(table))
                 for table in (TriageEntry.__table__, outbox, audit)]
    engine.dispose()
    assert after == before, "a suggestion creates nothing"


def test_the_form_s_answers_count_too(client, auth_keys):
    answer = suggest(client, token(auth_keys, Role.admin), text="Hello, I would like to book",
                     after_surgery=True, surgery="spinal fusion L5/S1",
                     body_areas=["lower_back", "hip"], ticked=[])
    assert answer.status_code == 200, answer.text
    assert answer.json()["pathway"] in ("both", "rehab_physio")
    assert any("ticked: I had surgery" in reason["phrases"]
               for reason in answer.json()["reasons"])

    ticked = suggest(client, token(auth_keys, Role.admin), text="My back hurts",
                     ticked=["saddle_numbness"])
    assert ticked.status_code == 200, ticked.text
    assert ticked.json()["urgent"] is True
    assert ticked.json()["red_flags"][0]["phrase"] == "ticked: saddle numbness"


def test_a_cauda_equina_text_is_urgent_with_advice(client, auth_keys):
    answer = suggest(client, token(auth_keys, Role.receptionist), text=CAUDA_EQUINA)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["urgent"] is True and body["pathway"] == "urgent_review"
    flags = [flag for flag in body["red_flags"] if flag["category"] == "cauda_equina"]
    assert flags, body["red_flags"]
    assert all(flag["phrase"].lower() in CAUDA_EQUINA.lower() for flag in flags)
    assert flags[0]["advice"] == triage_engine("").advice("cauda_equina")
    assert any(word in flags[0]["advice"] for word in ("999", "A&E"))


def test_only_reception_and_the_clinic_lead_may_ask(client, auth_keys):
    therapist = suggest(client, token(auth_keys, Role.therapist, uuid.uuid4()), text=BERT)
    assert therapist.status_code == 403
    anonymous = suggest(client, {}, text=BERT)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "text"),
    ({"text": ""}, "text"),
    ({"text": "   "}, "text"),
    ({"text": "x" * 8001}, "text"),
    ({"text": "stiff\x00neck"}, "text"),
    ({"text": 42}, "text"),
    ({"text": "stiff neck", "after_surgery": "perhaps"}, "after_surgery"),
    ({"text": "stiff neck", "body_areas": "neck"}, "body_areas"),
    ({"text": "stiff neck", "body_areas": ["Lower Back!"]}, "body_areas.0"),
    ({"text": "stiff neck", "ticked": ["x" * 61]}, "ticked.0"),
    ({"text": "stiff neck", "surgery": "s" * 501}, "surgery"),
    ({"text": "stiff neck", "pathway": "both"}, "pathway"),
])
def test_bad_input_is_a_422_naming_the_field(client, auth_keys, body, field):
    answer = client.post("/api/suggestions", headers=token(auth_keys, Role.receptionist),
                         json=body)
    assert answer.status_code == 422, answer.text
    assert field in [error["field"] for error in answer.json()["detail"]], answer.text
    assert "stiff" not in answer.text, "the answer must not echo what was written"


def test_the_longest_text_allowed_is_read(client, auth_keys):
    text = ("My neck is stiff. " * 500)[:8000]
    answer = suggest(client, token(auth_keys, Role.receptionist), text=text)
    assert answer.status_code == 200, answer.text


def test_it_is_documented(client):
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/api/suggestions"]["post"]
    assert operation["x-access"] == ["admin", "receptionist"]
    assert "SuggestionRequest" in document["components"]["schemas"]
    answer = document["components"]["schemas"]["SuggestionAnswer"]
    assert set(answer["properties"]) == {"pathway", "urgent", "red_flags", "reasons"}
    assert set(answer["properties"]["pathway"]["enum"]) == {
        "manual_therapy", "rehab_physio", "both", "unsure", "urgent_review"}
