"""Who is calling: a member of staff with one role."""

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    receptionist = "receptionist"
    therapist = "therapist"
    admin = "admin"  # clinic lead


STAFF = (Role.receptionist, Role.therapist, Role.admin)


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    name: str = ""
    therapist_id: uuid.UUID | None = None
