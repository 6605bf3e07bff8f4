"""referral's pathways and readings: the referrals a confirmed pathway makes, and how a request's
reading (booking's v2, or the engine's for a v1 event) becomes a triage entry's columns, and a
malformed vocabulary stopping the API and the worker as they start.

The rules themselves live in the shared triage engine's vocabulary and are tested with it.
"""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from clinic_shared.messaging.contracts import (
    AppointmentRequestedV1,
    AppointmentRequestedV2,
    RedFlagFound,
    SuggestionReason,
    TriageReading,
)
from clinic_shared.triage import VocabularyError, triage_engine
from referral.domain.pathways import disciplines_for, is_pathway
from referral.domain.reading import entry_values, humanise, reading_of

BERT = ("I am currently going through rehab post spinal fusion and right hip key hole, and I "
        "have lost a lot of flexibility, mobility and strength.")


def requested(reason: str, reading: TriageReading | None = None,
              **answers: object) -> AppointmentRequestedV1:
    now = datetime.now(UTC)
    fields = dict(request_id=uuid.uuid4(), reference="R1234567", name="Bert Example",
                  email="bert@example.org", contact_channel="email", mode="clinic",
                  reason=reason, requested_at=now, contact_by=now + timedelta(hours=1),
                  appointment_by=now + timedelta(hours=24), **answers)
    if reading is None:
        return AppointmentRequestedV1(**fields)
    return AppointmentRequestedV2(**fields, reading=reading)


# --- the referrals a pathway makes -------------------------------------------------------------

def test_a_confirmed_pathway_makes_referrals_in_the_suggested_order():
    assert disciplines_for("both", ["rehab_physio", "manual_therapy"]) == [
        "rehab_physio", "manual_therapy"]
    assert disciplines_for("both", ["manual_therapy", "rehab_physio"]) == [
        "manual_therapy", "rehab_physio"]
    assert disciplines_for("both", ["manual_therapy"]) == ["rehab_physio", "manual_therapy"]
    assert disciplines_for("both") == ["rehab_physio", "manual_therapy"]
    assert disciplines_for("manual_therapy", ["rehab_physio"]) == ["manual_therapy"]
    assert disciplines_for("rehab_physio", ()) == ["rehab_physio"]


@pytest.mark.parametrize("undecided", ["unsure", "urgent_review"])
def test_a_suggestion_that_is_no_pathway_could_need_either_discipline(undecided):
    assert not is_pathway(undecided) and not is_pathway(None)
    assert disciplines_for(undecided, ()) == ["rehab_physio", "manual_therapy"]


# --- the reading on the entry ------------------------------------------------------------------

def test_booking_s_reading_is_taken_as_it_is():
    reading = TriageReading(
        pathway="urgent_review", urgent=True,
        red_flags=(RedFlagFound(category="cauda_equina", phrase="numb between my legs"),),
        reasons=(SuggestionReason(rule="stiffness", phrases=("stiff",)),))
    # the engine is not asked: booking read the request once
    assert reading_of(requested("anything at all", reading), engine=None) is reading  # type: ignore[arg-type]


def test_a_v1_request_is_read_by_the_engine_with_the_forms_answers():
    engine = triage_engine("")
    reading = reading_of(requested(BERT, after_surgery=True, surgery="spinal fusion",
                                   body_areas=("lower_back", "hip")), engine)
    assert reading.pathway == "both"
    assert reading.order == ("rehab_physio", "manual_therapy")
    quoted = " ".join(phrase for reason in reading.reasons for phrase in reason.phrases)
    assert "fusion" in quoted

    ticked = reading_of(requested("My back hurts", red_flags=("saddle_numbness",)), engine)
    assert ticked.urgent and ticked.pathway == "urgent_review"
    assert [flag.phrase for flag in ticked.red_flags] == ["ticked: saddle numbness"]


def test_entry_values_keep_the_patients_words():
    reading = TriageReading(
        pathway="both", urgent=False, order=("rehab_physio", "manual_therapy"),
        reasons=(SuggestionReason(rule="post_op", phrases=("ticked: I had surgery",)),
                 SuggestionReason(rule="stiffness", phrases=("lost a lot of flexibility",)),
                 SuggestionReason(rule="stiffness", phrases=("stiff",))))
    assert entry_values(reading) == {
        "suggested_pathway": "both",
        "suggested_order": ["rehab_physio", "manual_therapy"],
        "suggestion_rules": ["post_op", "stiffness"],
        "suggestion_reasons": [{"rule": "post_op", "phrases": ["ticked: I had surgery"]},
                               {"rule": "stiffness", "phrases": ["lost a lot of flexibility"]},
                               {"rule": "stiffness", "phrases": ["stiff"]}],
        "red_flags_found": [],
    }
    assert humanise("post_op_spinal") == "Post op spinal"


# --- start-up ----------------------------------------------------------------------------------

def test_a_malformed_vocabulary_stops_the_api_and_the_worker_as_they_start(tmp_path):
    from referral.api.app import create_app
    from referral.settings import ReferralSettings
    from referral.worker import build_loops

    broken = tmp_path / "vocabulary.yaml"
    broken.write_text("red_flags:\n  cauda_equina:\n    title: x\n", encoding="utf-8")
    settings = ReferralSettings(triage_vocabulary_file=str(broken),
                               database_url="postgresql+psycopg://nobody@127.0.0.1:1/never")
    with pytest.raises(VocabularyError, match=r"vocabulary\.yaml"):
        create_app(settings)
    with pytest.raises(VocabularyError, match=r"vocabulary\.yaml"):
        build_loops(settings)
