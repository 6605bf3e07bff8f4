"""Reconciling the services: requests booking took that referral never triaged or notify
never acknowledged, past a grace period. An operator's check that nothing went missing.

It reads each service's own database (the URLs every service is started with:
BOOKING_DATABASE_URL, REFERRAL_DATABASE_URL, NOTIFY_DATABASE_URL) in read-only sessions and
joins the answers here by request id. Read directly rather than through admin APIs so that it
works while an API is down (which is when an operator wants it), needs no staff token, and
adds no endpoint that exposes one service's rows to another; the services themselves still
never read each other's tables. It writes nothing and reports only references, request ids,
channels and times, never what a patient wrote.
"""

import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, create_engine, text

LOCAL = "postgresql+psycopg://postgres@localhost:5432/"
SERVICES = ("booking", "referral", "notify")

REQUESTS = """
SELECT id, reference, contact_channel, created_at FROM appointment_requests
WHERE erased_at IS NULL AND created_at <= now() - make_interval(secs => :grace)
  AND created_at >= now() - make_interval(days => :since)
ORDER BY created_at
"""
TRIAGED = "SELECT request_id FROM triage_entries WHERE request_id = ANY(:ids)"
# notify heard of the request (request_contacts) and owes or sent what the patient chose:
# an acknowledgement sent on their channel (the fallback channel counts), or, for "phone",
# a call-back task in reception's list.
KNOWN = "SELECT request_id FROM request_contacts WHERE request_id = ANY(:ids)"
ACKNOWLEDGED = """
SELECT request_id FROM notifications
WHERE kind = 'request_acknowledgement' AND status = 'sent' AND request_id = ANY(:ids)
UNION SELECT request_id FROM callback_tasks WHERE request_id = ANY(:ids)
"""


@dataclass(frozen=True)
class Missing:
    request_id: uuid.UUID
    reference: str
    contact_channel: str
    created_at: datetime


@dataclass
class Report:
    grace: timedelta
    checked: int = 0
    without_triage: list[Missing] = field(default_factory=list)
    unknown_to_notify: list[Missing] = field(default_factory=list)  # the event never arrived
    unacknowledged: list[Missing] = field(default_factory=list)  # arrived, nothing sent yet

    @property
    def clean(self) -> bool:
        return not (self.without_triage or self.unknown_to_notify or self.unacknowledged)


def database_urls() -> dict[str, str]:
    """Each service's database URL from the environment it is deployed with."""
    return {service: os.environ.get(f"{service.upper()}_DATABASE_URL", LOCAL + service)
            for service in SERVICES}


def _read_only(url: str) -> Engine:
    return create_engine(url, pool_size=1,
                         connect_args={"options": "-c default_transaction_read_only=on"})


def _ids(engine: Engine, sql: str, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(text(sql), {"ids": ids})}


def reconcile(urls: dict[str, str], grace: timedelta, since_days: int = 30) -> Report:
    """Requests older than `grace` (and younger than `since_days`) missing an effect."""
    engines = {service: _read_only(url) for service, url in urls.items()}
    report = Report(grace=grace)
    try:
        with engines["booking"].connect() as conn:
            requests = [Missing(*row) for row in conn.execute(
                text(REQUESTS), {"grace": grace.total_seconds(), "since": since_days})]
        report.checked = len(requests)
        ids = [r.request_id for r in requests]
        triaged = _ids(engines["referral"], TRIAGED, ids)
        known = _ids(engines["notify"], KNOWN, ids)
        acknowledged = _ids(engines["notify"], ACKNOWLEDGED, ids)
    finally:
        for engine in engines.values():
            engine.dispose()
    for request in requests:
        if request.request_id not in triaged:
            report.without_triage.append(request)
        if request.request_id not in known:
            report.unknown_to_notify.append(request)
        elif request.request_id not in acknowledged:
            report.unacknowledged.append(request)
    return report


def render(report: Report, limit: int = 50) -> str:
    minutes = report.grace.total_seconds() / 60
    lines = [f"checked {report.checked} request(s) older than {minutes:g} minute(s)"]
    for title, missing in (("without a triage entry (referral)", report.without_triage),
                           ("never reached notify", report.unknown_to_notify),
                           ("not acknowledged yet (notify)", report.unacknowledged)):
        lines.append(f"{len(missing):6d}  {title}")
        lines.extend(f"        {m.reference}  {m.request_id}  {m.contact_channel:<5}  "
                     f"{m.created_at:%Y-%m-%d %H:%M}" for m in missing[:limit])
        if len(missing) > limit:
            lines.append(f"        ... and {len(missing) - limit} more")
    lines.append("nothing missing" if report.clean else "some requests are missing effects")
    return "\n".join(lines)
