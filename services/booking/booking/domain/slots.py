"""Slot search: the earliest free times, across every site, virtual and home visits.

Free time is computed from working patterns (local wall-clock hours, so a 09:00 start stays
09:00 across the clock changes), minus leave and sickness, minus booked appointments (with a
home visit's travel before and after). The database's exclusion constraints are what finally
stop a double booking; this search only proposes.
"""

import bisect
import heapq
import itertools
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import any_, func, or_, select
from sqlalchemy.orm import Session

from booking.adapters.tables import (
    Appointment,
    Clinic,
    ScheduleException,
    Therapist,
    WorkingPattern,
)
from booking.domain.schedule import (
    district_covered,
    duration,
    local_moment,
    opening_window,
    to_london,
    travel,
)
from booking.settings import BookingSettings


@dataclass(frozen=True)
class SlotQuery:
    window_start: datetime
    window_end: datetime
    appointment_type: str = "initial_assessment"
    discipline: str | None = None
    mode: str | None = None  # None: every mode
    site_id: str | None = None
    postcode: str | None = None  # home visits: only clinics covering its district
    therapist_id: uuid.UUID | None = None
    promise_by: datetime | None = None
    limit: int = 20


@dataclass(frozen=True)
class Slot:
    therapist_id: uuid.UUID
    therapist_name: str
    mode: str
    site_id: str | None
    starts_at: datetime
    ends_at: datetime
    within_promise: bool | None

    @property
    def starts_local(self) -> datetime:
        return to_london(self.starts_at)


class BusyTimes:
    """One therapist's busy intervals, merged and sorted, for fast overlap checks."""

    def __init__(self, intervals: list[tuple[datetime, datetime]]) -> None:
        merged: list[list[datetime]] = []
        for start, end in sorted(intervals):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]

    def free(self, start: datetime, end: datetime) -> bool:
        i = bisect.bisect_right(self.starts, start) - 1
        if i >= 0 and self.ends[i] > start:
            return False
        return i + 1 >= len(self.starts) or self.starts[i + 1] >= end


def find_slots(session: Session, query: SlotQuery, settings: BookingSettings,
               now: datetime | None = None) -> list[Slot]:
    """The earliest free slots matching `query`, soonest first."""
    now = now or datetime.now(UTC)
    start = max(query.window_start, now)
    if start >= query.window_end:
        return []
    clinics = {c.id: c for c in session.scalars(select(Clinic).where(Clinic.active))}
    length = duration(settings, query.appointment_type)
    step = timedelta(minutes=settings.slot_step_minutes)
    found: list[Slot] = []
    day = to_london(start).date()
    last_day = to_london(query.window_end).date()
    while day <= last_day and len(found) < query.limit:
        todays = _patterns(session, query, clinics, day.weekday())
        if todays:
            day_start = max(start, local_moment(day, time.min))
            day_end = min(query.window_end, local_moment(day + timedelta(days=1), time.min))
            busy = _busy_times(session, query.therapist_id, day_start, day_end, settings)
            blocks = [_slots_in_block(p, day, clinics, busy, length, step, start, query,
                                      settings) for p in todays]
            merged = heapq.merge(*blocks, key=lambda s: (s.starts_at, s.therapist_name))
            found.extend(itertools.islice(merged, query.limit - len(found)))
        day += timedelta(days=1)
    return found


def _patterns(session: Session, query: SlotQuery, clinics: dict[str, Clinic],
              weekday: int) -> list[Any]:
    """Active therapists' rota rows (therapist_id, name, weekday, starts, ends, mode, site_id)
    for one weekday, as plain rows in one query: this is the search's hot path."""
    w = WorkingPattern
    statement = (select(w.therapist_id, Therapist.name, w.weekday, w.starts, w.ends, w.mode,
                        w.site_id)
                 .join(Therapist, Therapist.id == w.therapist_id)
                 .where(Therapist.active, w.weekday == weekday))
    if query.discipline:
        statement = statement.where(any_(Therapist.disciplines) == query.discipline)
    if query.therapist_id:
        statement = statement.where(w.therapist_id == query.therapist_id)
    if query.mode:
        statement = statement.where(WorkingPattern.mode == query.mode)
    if query.site_id:
        statement = statement.where(or_(WorkingPattern.site_id == query.site_id,
                                        WorkingPattern.mode == "virtual"))
    rows = []
    for pattern in session.connection().execute(statement):
        if pattern.mode != "virtual" and pattern.site_id not in clinics:
            continue
        if pattern.mode == "home_visit" and query.postcode and not district_covered(
                query.postcode, clinics[pattern.site_id].home_visit_districts):  # type: ignore[index]
            continue
        rows.append(pattern)
    return rows


def _busy_times(session: Session, therapist_id: uuid.UUID | None, start: datetime,
                end: datetime, settings: BookingSettings) -> defaultdict[uuid.UUID, BusyTimes]:
    """Everyone's (or one therapist's) busy time around [start, end)."""
    margin = timedelta(minutes=settings.home_visit_travel_minutes) + timedelta(hours=1)
    intervals: dict[uuid.UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
    booked = session.execute(
        select(Appointment.therapist_id, func.lower(Appointment.busy),
               func.upper(Appointment.busy))
        .where(Appointment.status == "booked", Appointment.starts_at < end + margin,
               Appointment.ends_at > start - margin,
               *([Appointment.therapist_id == therapist_id] if therapist_id else []))
    )
    for therapist_id, busy_from, busy_to in booked:
        intervals[therapist_id].append((busy_from, busy_to))
    away = session.execute(
        select(ScheduleException.therapist_id, ScheduleException.starts_at,
               ScheduleException.ends_at)
        .where(ScheduleException.starts_at < end + margin,
               ScheduleException.ends_at > start - margin,
               *([ScheduleException.therapist_id == therapist_id] if therapist_id else []))
    )
    for therapist_id, away_from, away_to in away:
        intervals[therapist_id].append((away_from, away_to))
    busy: defaultdict[uuid.UUID, BusyTimes] = defaultdict(lambda: BusyTimes([]))
    busy.update({t: BusyTimes(spans) for t, spans in intervals.items()})
    return busy


def _working_block(pattern: Any, day: date,
                   clinics: dict[str, Clinic]) -> tuple[datetime, datetime] | None:
    """When the pattern has the therapist working on `day`, within the clinic's opening hours."""
    block_start, block_end = local_moment(day, pattern.starts), local_moment(day, pattern.ends)
    if pattern.mode == "clinic":
        window = opening_window(clinics[pattern.site_id].opening_hours, day)  # type: ignore[index]
        if window is None:
            return None
        block_start = max(block_start, local_moment(day, window[0]))
        block_end = min(block_end, local_moment(day, window[1]))
    return (block_start, block_end) if block_start < block_end else None


def _slots_in_block(pattern: Any, day: date, clinics: dict[str, Clinic],
                    busy: defaultdict[uuid.UUID, BusyTimes],
                    length: timedelta, step: timedelta, earliest: datetime, query: SlotQuery,
                    settings: BookingSettings) -> Iterator[Slot]:
    """The block's free slots, earliest first (a generator: callers take only what they need)."""
    block = _working_block(pattern, day, clinics)
    if block is None:
        return
    block_start, block_end = block
    around = travel(settings, pattern.mode)
    candidate = block_start + around
    therapist_busy = busy[pattern.therapist_id]
    while candidate + length + around <= block_end:
        starts_at = candidate.astimezone(UTC)
        ends_at = starts_at + length
        if starts_at >= earliest and ends_at <= query.window_end and therapist_busy.free(
                starts_at - around, ends_at + around):
            yield Slot(
                therapist_id=pattern.therapist_id, therapist_name=pattern.name, mode=pattern.mode,
                site_id=pattern.site_id, starts_at=starts_at, ends_at=ends_at,
                within_promise=None if query.promise_by is None
                else starts_at <= query.promise_by,
            )
        candidate += step


def free_slot_at(session: Session, therapist_id: uuid.UUID, mode: str, starts_at: datetime,
                 settings: BookingSettings, now: datetime | None = None) -> Slot | None:
    """The therapist's free slot of that mode starting then, if it is still one (a FHIR Slot
    read: the search's own rules, over just that time)."""
    length = duration(settings, "initial_assessment")
    found = find_slots(session, SlotQuery(window_start=starts_at, window_end=starts_at + length,
                                          mode=mode, therapist_id=therapist_id, limit=5),
                       settings, now)
    return next((slot for slot in found if slot.starts_at == starts_at), None)


def fits_schedule(session: Session, therapist_id: uuid.UUID, mode: str, site_id: str | None,
                  starts_at: datetime, ends_at: datetime, settings: BookingSettings) -> bool:
    """Whether the therapist works then, there, that way, and is not on leave."""
    around = travel(settings, mode)
    query = SlotQuery(window_start=starts_at, window_end=ends_at, mode=mode, site_id=site_id,
                      therapist_id=therapist_id, limit=1000,
                      appointment_type="initial_assessment")
    clinics = {c.id: c for c in session.scalars(select(Clinic).where(Clinic.active))}
    day = to_london(starts_at).date()
    for pattern in _patterns(session, query, clinics, day.weekday()):
        if pattern.site_id != site_id and mode != "virtual":
            continue
        block = _working_block(pattern, day, clinics)
        if block is not None and block[0] <= starts_at - around and ends_at + around <= block[1]:
            on_leave = session.scalar(select(func.count()).select_from(ScheduleException).where(
                ScheduleException.therapist_id == therapist_id,
                ScheduleException.starts_at < ends_at + around,
                ScheduleException.ends_at > starts_at - around))
            return not on_leave
    return False
