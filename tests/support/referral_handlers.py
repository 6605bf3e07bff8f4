"""referral's event handlers as the tests drive them: its `handlers(deps)` tables bound to the
shipped triage vocabulary (what `bootstrap` gives a service with no vocabulary file)."""

from clinic_shared.messaging.consumer import Handler
from clinic_shared.messaging.contracts import AppointmentRequestedV1, PatientErasedV1
from clinic_shared.triage import TriageEngine, triage_engine
from referral.bootstrap import Dependencies
from referral.handlers import handlers

TABLES = handlers(Dependencies(triage=triage_engine("")))
HANDLERS = TABLES["booking"]  # booking's queue
NOTIFY_HANDLERS = TABLES["notify"]  # notify's queue
on_appointment_requested = HANDLERS[AppointmentRequestedV1.event_type]
on_patient_erased = HANDLERS[PatientErasedV1.event_type]


def handlers_for(engine: TriageEngine) -> dict[str, Handler]:
    """booking's queue's table, reading v1 requests with `engine`."""
    return handlers(Dependencies(triage=engine))["booking"]
