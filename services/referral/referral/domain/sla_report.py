"""The SLA figures for the clinic lead: share contacted within the hour and booked within 24
hours, by day, clinic and channel, and the breaches with their causes (JSON and page share it).

A request counts for a promise once its deadline has passed or the promise was met ("decided");
until then it is "pending" (waiting) and stays out of the share, and "at risk" when its deadline
is less than AT_RISK away. A request withdrawn before it was booked does not count against the
24-hour promise. "Now" is the service's clock (clinic_shared.clock: tests may set it)."""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.types import Date

from referral.adapters.tables import SlaBreach, SlaMark, TriageEntry

MAX_DAYS = 90
AT_RISK = timedelta(minutes=15)  # the board's countdown turns amber this long before
BREACH_LIMIT = 200
UNKNOWN_CAUSE = "unknown"
CLINIC_NAMES = {"virtual": "Virtual (video)", "home_visit": "Home visit"}
CHANNEL_NAMES = {"email": "E-mail", "sms": "Text message", "phone": "Phone call"}


class PromiseFigures(BaseModel):
    """One promise's counts in one group, and the share kept (None when nothing counted yet)."""

    met: int = 0
    missed: int = 0
    pending: int = 0
    at_risk: int = 0  # of the pending, those whose deadline is less than AT_RISK away

    @property
    def counted(self) -> int:
        return self.met + self.missed

    def share(self) -> float | None:
        return round(self.met / self.counted, 4) if self.counted else None


class GroupFigures(BaseModel):
    key: str
    label: str
    requests: int
    contacted_within_1h: PromiseFigures
    booked_within_24h: PromiseFigures
    contacted_share: float | None
    booked_share: float | None


class BreachRow(BaseModel):
    request_id: uuid.UUID
    reference: str
    kind: str  # contact | appointment
    deadline: datetime
    urgent: bool
    cause: str
    channel: str | None
    clinic: str | None


class CauseCount(BaseModel):
    kind: str
    cause: str
    breaches: int


class SlaReport(BaseModel):
    since: date
    until: date
    total: GroupFigures
    by_day: list[GroupFigures]
    by_clinic: list[GroupFigures]
    by_channel: list[GroupFigures]
    breach_causes: list[CauseCount]
    breaches: list[BreachRow]


@dataclass
class _Tally:
    requests: int = 0
    contact: PromiseFigures = field(default_factory=PromiseFigures)
    booking: PromiseFigures = field(default_factory=PromiseFigures)

    def add(self, row: dict[str, int]) -> None:
        self.requests += row["requests"]
        for promise, prefix in ((self.contact, "contact"), (self.booking, "booking")):
            promise.met += row[f"{prefix}_met"]
            promise.missed += row[f"{prefix}_missed"]
            promise.pending += row[f"{prefix}_pending"]
            promise.at_risk += row[f"{prefix}_at_risk"]

    def figures(self, key: str, label: str) -> GroupFigures:
        return GroupFigures(key=key, label=label, requests=self.requests,
                            contacted_within_1h=self.contact, booked_within_24h=self.booking,
                            contacted_share=self.contact.share(),
                            booked_share=self.booking.share())


def clinic_label(key: str) -> str:
    return CLINIC_NAMES.get(key) or key.replace("_", " ").title()


def _clinic() -> ColumnElement[str]:
    """A request's clinic: its site, or its mode for virtual and home visits."""
    return case((TriageEntry.mode == "clinic", func.coalesce(TriageEntry.site, "unknown")),
                else_=TriageEntry.mode)


def _counts(since: date, today: date, now: datetime) -> Select[Any]:
    """Requests per London day, clinic and channel, with each promise's met, missed, pending
    and at-risk counts (a request withdrawn before it was booked counts for no booking)."""
    london_day = cast(func.timezone("Europe/London", TriageEntry.requested_at), Date)
    contacted, booked = SlaMark.first_contacted_at, SlaMark.first_booked_at
    withdrawn = TriageEntry.status == "cancelled"

    def count(condition: object) -> object:
        return func.count().filter(condition)

    return (
        select(london_day.label("day"), _clinic().label("clinic"),
               TriageEntry.contact_channel.label("channel"), func.count().label("requests"),
               count(contacted <= TriageEntry.contact_by).label("contact_met"),
               count(or_(contacted > TriageEntry.contact_by,
                         and_(contacted.is_(None), TriageEntry.contact_by <= now))
                     ).label("contact_missed"),
               count(and_(contacted.is_(None), TriageEntry.contact_by > now)
                     ).label("contact_pending"),
               count(and_(contacted.is_(None), TriageEntry.contact_by > now,
                          TriageEntry.contact_by <= now + AT_RISK)).label("contact_at_risk"),
               count(booked <= TriageEntry.appointment_by).label("booking_met"),
               count(or_(booked > TriageEntry.appointment_by,
                         and_(booked.is_(None), ~withdrawn,
                              TriageEntry.appointment_by <= now))).label("booking_missed"),
               count(and_(booked.is_(None), ~withdrawn, TriageEntry.appointment_by > now)
                     ).label("booking_pending"),
               count(and_(booked.is_(None), ~withdrawn, TriageEntry.appointment_by > now,
                          TriageEntry.appointment_by <= now + AT_RISK)).label("booking_at_risk"))
        .select_from(TriageEntry)
        .outerjoin(SlaMark, SlaMark.request_id == TriageEntry.request_id)
        .where(london_day >= since, london_day <= today)
        .group_by("day", "clinic", "channel"))


def _breaches(session: Session, since: date) -> tuple[list[BreachRow], list[CauseCount]]:
    """The latest breaches (at most BREACH_LIMIT) and every breach's cause, counted."""
    breach_day = cast(func.timezone("Europe/London", SlaBreach.deadline), Date)
    breaches = session.execute(
        select(SlaBreach, _clinic().label("clinic"))
        .outerjoin(TriageEntry, TriageEntry.request_id == SlaBreach.request_id)
        .where(breach_day >= since)
        .order_by(SlaBreach.deadline.desc(), SlaBreach.kind).limit(BREACH_LIMIT)).all()
    causes = session.execute(
        select(SlaBreach.kind, func.coalesce(SlaBreach.cause, UNKNOWN_CAUSE).label("cause"),
               func.count().label("breaches"))
        .where(breach_day >= since)
        .group_by(SlaBreach.kind, "cause").order_by(func.count().desc(), "cause")).all()
    return ([BreachRow(request_id=b.request_id, reference=b.reference, kind=b.kind,
                       deadline=b.deadline, urgent=b.urgent, cause=b.cause or UNKNOWN_CAUSE,
                       channel=b.channel, clinic=clinic_label(c) if c else None)
             for b, c in breaches],
            [CauseCount(kind=c.kind, cause=c.cause, breaches=c.breaches) for c in causes])


def build_report(session: Session, days: int, now: datetime | None = None) -> SlaReport:
    """The last `days` London days (today included) of requests, grouped three ways."""
    now = now or datetime.now(UTC)
    today = session.scalar(select(cast(func.timezone("Europe/London", now), Date)))
    assert today is not None
    since = today - timedelta(days=days - 1)
    total = _Tally()
    by_day: dict[date, _Tally] = defaultdict(_Tally)
    by_clinic: dict[str, _Tally] = defaultdict(_Tally)
    by_channel: dict[str, _Tally] = defaultdict(_Tally)
    for row in session.execute(_counts(since, today, now)).mappings().all():
        counts = {k: int(v) for k, v in row.items() if k not in ("day", "clinic", "channel")}
        total.add(counts)
        by_day[row["day"]].add(counts)
        by_clinic[row["clinic"]].add(counts)
        by_channel[row["channel"]].add(counts)
    every_day = [since + timedelta(days=n) for n in range(days)]
    breaches, causes = _breaches(session, since)
    return SlaReport(
        since=since, until=today, total=total.figures("all", "All requests"),
        by_day=[by_day[d].figures(d.isoformat(), d.strftime("%a %-d %b")) for d in every_day],
        by_clinic=[by_clinic[k].figures(k, clinic_label(k)) for k in sorted(by_clinic)],
        by_channel=[by_channel[k].figures(k, CHANNEL_NAMES.get(k, k)) for k in sorted(by_channel)],
        breach_causes=causes, breaches=breaches)
