"""Demo data: two appointment requests with example contact details (never real ones)."""

from sqlalchemy import func, select

from booking.adapters.tables import AppointmentRequest
from booking.domain.request_form import AppointmentRequestCreate
from booking.domain.requests import submit_request
from booking.operators.demo_schedule import seed_reference_data
from booking.settings import BookingSettings
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.log import get_logger
from clinic_shared.settings import ServiceSettings

log = get_logger(__name__)

DEMO_REQUESTS = [
    {
        "name": "Bert Example",
        "phone": "07400 123456",
        "email": "bert@example.org",
        "contact_channel": "email",
        "mode": "clinic",
        "site": "moorgate",
        "body_areas": ["lower_back", "hip"],
        "after_surgery": True,
        "surgery": "L5/S1 lumbar fusion and right hip arthroscopy",
        "reason": "Four months after an L5/S1 fusion and a right hip keyhole. Stiff lower back, "
        "tight right hamstring and calf that keep cramping on couch to 5k. I work next to "
        "Moorgate.",
        "consent": True,
    },
    {
        "name": "Ada Sample",
        "phone": "020 7946 0123",
        "contact_channel": "phone",
        "mode": "virtual",
        "reason": "Sore knee after running, getting worse on stairs.",
        "consent": True,
    },
]


def seed_clinics(settings: ServiceSettings) -> None:
    """The group's clinics and their hours, after every migration (no demo rota, no patients)."""
    engine = make_engine(settings.database_url, pool_size=1)
    with make_session_factory(engine).begin() as session:
        seed_reference_data(session, demo_rota=False)
    engine.dispose()


def seed(settings: ServiceSettings) -> None:
    assert isinstance(settings, BookingSettings)
    engine = make_engine(settings.database_url, pool_size=1)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        seed_reference_data(session)
    with sessions() as session:
        if session.scalar(select(func.count()).select_from(AppointmentRequest)):
            log.info("seed.skipped", reason="appointment requests exist")
            return
    for i, demo in enumerate(DEMO_REQUESTS):
        form = AppointmentRequestCreate.model_validate(demo)
        submit_request(sessions, form, settings, idempotency_key=f"demo-seed-{i}")
    log.info("seed.done", requests=len(DEMO_REQUESTS))
    engine.dispose()
