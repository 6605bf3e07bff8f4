"""Reference data every installation starts from: the London clinics and a demo rota.

The demo therapists' ids are fixed (uuid5) so referral's directory seed and this rota agree
without either service reading the other's tables; their names arrive by event as usual.
"""

import uuid
from datetime import UTC, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.adapters.tables import Clinic, Therapist, WorkingPattern

WEEKDAYS_ONLY = {day: ["07:00", "20:00"] for day in ("mon", "tue", "wed", "thu", "fri")}

CLINICS = [
    Clinic(id="moorgate", name="Moorgate clinic", address="1 Example Court, London",
           postcode="EC2Y 5AS", opening_hours={**WEEKDAYS_ONLY, "sat": ["09:00", "14:00"]},
           home_visit_districts=["EC1", "EC2", "EC3", "EC4", "N1", "E1"]),
    Clinic(id="canary-wharf", name="Canary Wharf clinic", address="2 Sample Plaza, London",
           postcode="E14 5AB", opening_hours=WEEKDAYS_ONLY,
           home_visit_districts=["E14", "E1W", "SE16"]),
    Clinic(id="kensington", name="Kensington clinic", address="3 Demo Gardens, London",
           postcode="W8 4AA", opening_hours={**WEEKDAYS_ONLY, "sat": ["09:00", "16:00"]},
           home_visit_districts=["W8", "W14", "SW5", "SW7"]),
    Clinic(id="london-bridge", name="London Bridge clinic", address="4 Test Street, London",
           postcode="SE1 9AA", opening_hours=WEEKDAYS_ONLY,
           home_visit_districts=["SE1", "SE11", "SE17"]),
]


def demo_therapist_id(username: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"https://clinic.example/demo-therapist/{username}")


# username, name, disciplines, sites, modes, [(weekdays, starts, ends, mode, site)]
DEMO_ROTA = [
    ("priya", "Priya Shah", ["manual_therapy"], ["moorgate"], ["clinic", "home_visit"],
     [(range(0, 5), "08:00", "16:00", "clinic", "moorgate"),
      (range(5, 6), "09:00", "13:00", "home_visit", "moorgate")]),
    ("tom", "Tom Reid", ["rehab_physio"], ["moorgate"], ["clinic", "virtual"],
     [(range(0, 5), "10:00", "18:00", "clinic", "moorgate"),
      (range(0, 7), "18:00", "21:00", "virtual", None)]),
    ("alex", "Alex Morgan", ["manual_therapy", "rehab_physio"], ["canary-wharf"],
     ["clinic", "virtual"],
     [(range(0, 5), "08:00", "18:00", "clinic", "canary-wharf"),
      (range(5, 7), "09:00", "13:00", "virtual", None)]),
]


def seed_reference_data(session: Session, demo_rota: bool = True) -> None:
    """Clinics (always) and the demo rota (development and demos); idempotent."""
    known = set(session.scalars(select(Clinic.id)))
    session.add_all(Clinic(**{k: getattr(c, k) for k in ("id", "name", "address", "postcode",
                                                          "opening_hours",
                                                          "home_visit_districts")})
                    for c in CLINICS if c.id not in known)
    if not demo_rota:
        return
    session.flush()
    for username, name, disciplines, sites, modes, blocks in DEMO_ROTA:
        therapist_id = demo_therapist_id(username)
        if session.get(Therapist, therapist_id) is not None:
            continue
        # updated_at in the past: referral's events about this therapist always win
        session.add(Therapist(id=therapist_id, name=name, disciplines=disciplines, sites=sites,
                              modes=modes, active=True,
                              updated_at=datetime(2000, 1, 1, tzinfo=UTC)))
        session.flush()
        session.add_all(
            WorkingPattern(therapist_id=therapist_id, weekday=day,
                           starts=time.fromisoformat(starts), ends=time.fromisoformat(ends),
                           mode=mode, site_id=site)
            for days, starts, ends, mode, site in blocks for day in days
        )
