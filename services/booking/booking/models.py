"""booking's tables."""

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, MetaData, String, Text, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from clinic_shared.audit import define_audit_table
from clinic_shared.db import NAMING_CONVENTION
from clinic_shared.inbox import define_inbox_table
from clinic_shared.outbox import define_outbox_table
from clinic_shared.ratelimit import define_rate_limit_table

CONTACT_CHANNELS = ("phone", "sms", "email")
MODES = ("clinic", "virtual", "home_visit")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


metadata = Base.metadata
outbox = define_outbox_table(metadata)
inbox = define_inbox_table(metadata)
audit = define_audit_table(metadata)
rate_limits = define_rate_limit_table(metadata)


class AppointmentRequest(Base):
    """What a patient filled in, and the two promises made to them."""

    __tablename__ = "appointment_requests"
    __table_args__ = (
        CheckConstraint("phone IS NOT NULL OR email IS NOT NULL OR erased_at IS NOT NULL",
                        name="has_contact"),
        CheckConstraint(f"contact_channel IN {CONTACT_CHANNELS}", name="contact_channel"),
        CheckConstraint(f"mode IN {MODES}", name="mode"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    contact_channel: Mapped[str] = mapped_column(String(10))
    mode: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    consent: Mapped[bool] = mapped_column(Boolean)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="requested")
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    contact_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    appointment_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
