"""Benchmark: 1,000 e-mails already waiting in the inquiries mailbox become requests.

    .venv/bin/python -m bench.mailbox [--postgres-url URL] [--rounds 1000]

Starts a private Dovecot (as the tests do: its own config, folder and port), files `--rounds`
inquiries in its mailbox (IMAP APPEND on one connection), creates its own booking database
(dropped afterwards), then times booking's mailbox reader taking them all in (the triage
engine loaded beforehand, as in a running worker). Prints the rate, the time per e-mail and the
reader's resident memory sampled every 0.2 s: after the first 100 e-mails and at the end, so a
reader that holds on to what it read shows as growth.
"""

import threading
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from sqlalchemy import create_engine, func, select

from bench.common import arguments, scratch_database
from booking.adapters.mailbox import MailboxReader
from booking.adapters.tables import AppointmentRequest
from booking.domain.reading import engine_for
from booking.operators.demo_schedule import seed_reference_data
from booking.settings import BookingSettings
from clinic_shared.db import make_engine, make_session_factory
from tests.support.imap_server import PASSWORD, private_dovecot

USER = "inquiries"
TEXTS = (
    "Stiff lower back months after a fusion; my number is 07400 123456.",
    "My right knee hurts when I run, can you help? Kind regards, Ann",
    "Shoulder pain after a fall last week, it clicks when I lift my arm.",
    "<html><body><p>Neck <b>stiff</b> since I started working from home.</p></body></html>",
)


def inquiry(n: int) -> bytes:
    message = EmailMessage()
    message["From"] = f"Patient {n} <patient{n}@example.org>"
    message["To"] = "inquiries@clinic.example"
    message["Subject"] = f"Appointment please ({n})"
    message["Message-ID"] = make_msgid(domain="example.org")
    text = TEXTS[n % len(TEXTS)]
    if text.startswith("<html>"):
        message.set_content(text, subtype="html")
    else:
        message.set_content(text)
    if n % 50 == 0:  # a scan now and then: not kept, only named
        message.add_attachment(b"\0" * 2_000_000, maintype="application", subtype="pdf",
                               filename=f"scan-{n}.pdf")
    return message.as_bytes()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(postgres_url: str, emails: int) -> dict[str, float]:
    with private_dovecot() as dovecot, scratch_database(postgres_url, "mailbox",
                                                        "booking") as url:
        with dovecot.client(USER) as imap:
            for n in range(emails):
                imap.append("INBOX", inquiry(n))
        engine = create_engine(url)
        with make_session_factory(engine).begin() as session:
            seed_reference_data(session, demo_rota=False)
        engine.dispose()
        settings = BookingSettings(
            database_url=url, inquiries_imap_host="127.0.0.1", inquiries_imap_port=dovecot.port,
            inquiries_imap_ssl=False, inquiries_imap_user=USER,
            inquiries_imap_password=PASSWORD)
        engine_for(settings)  # loaded once per worker, before any mail
        engine = make_engine(url, pool_size=2)
        sessions = make_session_factory(engine)
        samples: list[tuple[int, float]] = []
        done = threading.Event()

        def count() -> int:
            with sessions() as session:
                return int(session.scalar(select(func.count(AppointmentRequest.id))) or 0)

        def sample() -> None:
            while not done.wait(0.2):
                samples.append((count(), rss_mb()))

        sampler = threading.Thread(target=sample, daemon=True)
        before = rss_mb()
        began = time.perf_counter()
        sampler.start()
        taken = MailboxReader(settings, sessions).read_waiting()
        took = time.perf_counter() - began
        done.set()
        sampler.join()
        stored = count()
        engine.dispose()
    assert taken == emails == stored, f"{taken} taken, {stored} stored of {emails}"
    after_100 = next((mb for n, mb in samples if n >= 100), before)
    return {"emails": emails, "seconds": took, "per_second": emails / took,
            "ms_per_email": took * 1000 / emails, "rss_before_mb": before,
            "rss_after_100_mb": after_100, "rss_peak_mb": max(mb for _, mb in samples),
            "rss_end_mb": rss_mb()}


def main() -> None:
    args = arguments(__doc__, rounds=1000)
    figures = measure(args.postgres_url, args.rounds)
    print(f"mailbox: {figures['emails']:.0f} e-mails in "
          f"{figures['seconds']:.1f}s = {figures['per_second']:.1f}/s "
          f"({figures['ms_per_email']:.1f} ms each)")
    print(f"reader RSS: {figures['rss_before_mb']:.0f} MB before, "
          f"{figures['rss_after_100_mb']:.0f} MB after 100, "
          f"{figures['rss_peak_mb']:.0f} MB peak, {figures['rss_end_mb']:.0f} MB at the end")


if __name__ == "__main__":
    main()
