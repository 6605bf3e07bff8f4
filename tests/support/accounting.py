"""Jepsen-style accounting: every submitted request was delivered once, lost or duplicated.

Effects counted per request: its triage entry (referral's database), the acknowledgement
owed (notify's `notifications` row) and the acknowledgement e-mail the test's SMTP server
accepted. An e-mail sent again under the same Message-ID (the dispatcher died between the
SMTP server's OK and its commit) is one message to a mail system and is reported as
`resent`, not as a duplicate; a second Message-ID for one request would be a duplicate.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from tests.support.fault_load import Load
from tests.support.smtp_server import SmtpServer
from tests.support.waiting import wait_until

ACKNOWLEDGEMENT = "request_acknowledgement"


@dataclass
class Tally:
    submitted: int
    triaged: int  # requests with at least one triage entry
    acknowledged: int  # requests with at least one acknowledgement e-mail
    lost: list[str]  # request ids missing an effect
    duplicated: list[str]  # request ids with an effect applied more than once
    resent: int  # e-mails sent again under the same Message-ID

    @property
    def complete(self) -> bool:
        return not self.lost


@dataclass
class Row:
    fault: str
    submitted: int
    triaged: int
    acknowledged: int
    lost: int
    duplicated: int
    resent: int
    recover_seconds: float
    note: str = ""


@dataclass
class Accountant:
    database_urls: dict[str, str]
    smtp: SmtpServer
    engines: dict[str, Engine] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Its own pool, pinged before use: a fault may kill the test's connections too.
        self.engines = {service: create_engine(url, pool_pre_ping=True, pool_size=1)
                        for service, url in self.database_urls.items()}

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()

    def _per_request(self, service: str, sql: str, ids: list[str]) -> Counter[str]:
        with self.engines[service].connect() as conn:
            rows = conn.execute(text(sql), {"ids": ids}).all()
        return Counter({str(request_id): count for request_id, count in rows})

    def tally(self, load: Load) -> Tally:
        ids = load.ids
        triage = self._per_request(
            "referral", "SELECT request_id, count(*) FROM triage_entries "
            "WHERE request_id = ANY(CAST(:ids AS uuid[])) GROUP BY request_id", ids)
        owed = self._per_request(
            "notify", "SELECT request_id, count(*) FROM notifications WHERE kind = "
            f"'{ACKNOWLEDGEMENT}' AND request_id = ANY(CAST(:ids AS uuid[])) GROUP BY request_id",
            ids)
        mails = self.smtp.messages()
        by_recipient: dict[str, list[str]] = {}
        for mail in mails:
            for recipient in mail.recipients:
                by_recipient.setdefault(recipient, []).append(str(mail.message["Message-ID"]))
        lost, duplicated, resent, acknowledged = [], [], 0, 0
        for sent in load.submitted:
            ids_seen = by_recipient.get(sent.email, [])
            distinct = len(set(ids_seen))
            resent += len(ids_seen) - distinct
            acknowledged += distinct > 0
            if not triage[sent.request_id] or not owed[sent.request_id] or not distinct:
                lost.append(sent.request_id)
            if triage[sent.request_id] > 1 or owed[sent.request_id] > 1 or distinct > 1:
                duplicated.append(sent.request_id)
        return Tally(len(ids), sum(1 for i in ids if triage[i]), acknowledged, lost,
                     duplicated, resent)

    def settle(self, load: Load, fault_ended: float, timeout: float = 90,
               drained: Callable[[], bool] | None = None) -> tuple[Tally, float]:
        """Wait until every submitted request has all its effects; (tally, seconds since the
        fault ended). Then, before counting duplicates, until `drained()` (no redelivery left
        waiting). Fails with the tally if some effects never arrive."""
        last: list[Tally] = []

        def done() -> bool:
            tally = self._try_tally(load)
            if tally is not None:
                last[:] = [tally]
            return tally is not None and tally.complete

        try:
            wait_until(done, timeout=timeout, interval=0.25, message="every request's effects")
        except AssertionError:
            tally = last[0] if last else None
            raise AssertionError(f"requests lost after {timeout}s: {tally}") from None
        recovered = time.monotonic() - fault_ended
        if drained is not None:
            wait_until(drained, timeout=timeout, interval=0.25, message="queues drained")
        final = wait_until(lambda: self._try_tally(load), timeout=timeout, interval=0.25,
                           message="a connection to count with")
        return final, max(recovered, 0.0)

    def _try_tally(self, load: Load) -> Tally | None:
        """A tally, or None while PostgreSQL turns the test away (it is shared: "too many
        clients" is a reason to ask again, not a verdict)."""
        try:
            return self.tally(load)
        except OperationalError:
            return None
