"""Demo data: a small therapist directory and staff sign-ins (fictional people only)."""

import uuid

from sqlalchemy import func, select

from clinic_shared.auth.passwords import hash_password
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.log import get_logger
from clinic_shared.settings import Environment, ServiceSettings
from referral.adapters.tables import StaffAccount, Therapist
from referral.domain.directory import announce_therapist
from referral.settings import ReferralSettings

log = get_logger(__name__)

DEV_STAFF_PASSWORD = "clinic-dev-password"

THERAPISTS = [
    ("priya", "Priya Shah", ["manual_therapy"], ["moorgate"], ["clinic", "home_visit"]),
    ("tom", "Tom Reid", ["rehab_physio"], ["moorgate"], ["clinic", "virtual"]),
    ("alex", "Alex Morgan", ["manual_therapy", "rehab_physio"], ["canary-wharf"],
     ["clinic", "virtual"]),
]
DESK_STAFF = [("reception", "Reception desk", "receptionist"), ("lead", "Clinic lead", "admin")]


def demo_therapist_id(username: str) -> uuid.UUID:
    """Fixed ids for the demo therapists: booking's demo rota uses the same (uuid5) ids, so
    the two seeds agree without either service reading the other's tables."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"https://clinic.example/demo-therapist/{username}")


def seed(settings: ServiceSettings) -> None:
    assert isinstance(settings, ReferralSettings)
    password = settings.seed_staff_password.get_secret_value()
    if not password and settings.environment is Environment.development:
        password = DEV_STAFF_PASSWORD
    engine = make_engine(settings.database_url, pool_size=1)
    with make_session_factory(engine).begin() as session:
        if session.scalar(select(func.count()).select_from(Therapist)):
            log.info("seed.skipped", reason="therapists exist")
            return
        therapists = {}
        for username, name, disciplines, sites, modes in THERAPISTS:
            therapist = Therapist(id=demo_therapist_id(username), name=name,
                                  disciplines=disciplines, sites=sites, modes=modes,
                                  capacity=20, active=True)
            session.add(therapist)
            therapists[username] = therapist
        session.flush()
        for therapist in therapists.values():  # booking learns of them through these events
            announce_therapist(session, therapist, "registered")
        if not password:
            log.warning("seed.no_staff_accounts", reason="set SEED_STAFF_PASSWORD to create them")
            return
        hashed = hash_password(password)
        for username, display, role in DESK_STAFF:
            session.add(StaffAccount(username=username, display_name=display, role=role,
                                     password_hash=hashed))
        for username, therapist in therapists.items():
            session.add(StaffAccount(username=username, display_name=therapist.name,
                                     role="therapist", password_hash=hashed,
                                     therapist_id=therapist.id))
    log.info("seed.done", therapists=len(THERAPISTS), staff=len(DESK_STAFF) + len(THERAPISTS))
    engine.dispose()
