"""booking's mailbox reader alone, as a process the fault suite can SIGKILL:
`python -m tests.support.mailbox_reader_process` with booking's settings in the environment
(BOOKING_DATABASE_URL, INQUIRIES_IMAP_*) and, optionally, FAULT_POINTS."""

import os
import signal
import threading

from booking.adapters.mailbox import MailboxReader
from booking.settings import BookingSettings
from clinic_shared import faults
from clinic_shared.db import make_engine, make_session_factory


def main() -> None:
    faults.arm(os.environ.get("FAULT_POINTS", ""))
    settings = BookingSettings()
    engine = make_engine(settings.database_url, pool_size=2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    MailboxReader(settings, make_session_factory(engine)).run(stop)


if __name__ == "__main__":
    main()
