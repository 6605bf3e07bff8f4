"""referral's tables."""

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, MetaData, String, Text, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from clinic_shared.db import NAMING_CONVENTION
from clinic_shared.inbox import define_inbox_table
from clinic_shared.outbox import define_outbox_table


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


metadata = Base.metadata
outbox = define_outbox_table(metadata)
inbox = define_inbox_table(metadata)


class TriageEntry(Base):
    """One appointment request waiting for a receptionist to triage it."""

    __tablename__ = "triage_entries"
    __table_args__ = (Index("ix_triage_entries_open_deadline", "status", "contact_by"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    reference: Mapped[str] = mapped_column(String(12))
    patient_name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    contact_channel: Mapped[str] = mapped_column(String(10))
    mode: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="new")
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    contact_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    appointment_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    source_event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
