"""What time it is: the real clock, or in tests the instant a file names (CLOCK_FILE).

Only the moments that start a promise (a request's arrival) and the reports that judge it read
this clock, so a test can make a request on a Sunday evening, a bank holiday or a clock-change
weekend and see every page show the deadline computed then. Production refuses CLOCK_FILE.
"""

from datetime import UTC, datetime
from pathlib import Path

from clinic_shared.settings import ServiceSettings


def now(settings: ServiceSettings) -> datetime:
    """The current instant (UTC): the file's when CLOCK_FILE names one that holds an instant."""
    if settings.clock_file:
        try:
            text = Path(settings.clock_file).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            text = ""
        if text:
            return datetime.fromisoformat(text).astimezone(UTC)
    return datetime.now(UTC)
