"""`python -m booking mailbox-quarantine [--retry]`: the inquiries mailbox's quarantined
messages (those whose processing failed `INQUIRIES_MAX_ATTEMPTS` times), and taking them in
again, e.g. after a fix. Lists positions, Message-IDs and error classes: no patient's words."""

import argparse

from booking.adapters.mailbox import MailboxReader
from booking.domain.mailbox_quarantine import quarantined
from booking.settings import BookingSettings
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.log import configure_logging


def quarantine_main(argv: list[str], settings: BookingSettings | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m booking mailbox-quarantine",
        description="List the inquiries mailbox's quarantined messages; --retry takes them "
                    "in again (those that fail again stay quarantined).")
    parser.add_argument("--retry", action="store_true", help="take them in again")
    args = parser.parse_args(argv)
    settings = settings or BookingSettings()
    configure_logging("booking", settings.log_level, settings.log_format)
    engine = make_engine(settings.database_url)
    try:
        if args.retry:
            if not settings.inquiries_imap_host:
                parser.error("no inquiries mailbox is configured (INQUIRIES_IMAP_HOST)")
            reader = MailboxReader(settings, make_session_factory(engine))
            taken, failed = reader.retry_quarantined()
            print(f"Taken in: {taken}; failed again (still quarantined): {failed}")
        rows = quarantined(engine)
        print(f"{len(rows)} quarantined message(s)")
        for q in rows:
            print(f"  {q.mailbox} UIDVALIDITY {q.uid_validity} UID {q.uid}  "
                  f"{q.message_id or '(no Message-ID)'}  {q.error} x{q.attempts}  "
                  f"since {q.quarantined_at:%Y-%m-%d %H:%M} UTC")
        return 0
    finally:
        engine.dispose()
