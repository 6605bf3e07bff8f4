"""The next call the form offers after "no answer" or a voicemail: in 30 minutes, moved on to
reception's next opening when reception would be closed then."""

from datetime import UTC, datetime

from clinic_shared.contact_hours import load_contact_hours
from notify.domain.callbacks import suggested_next_attempt
from tests.support.contact_hours import write_hours


def test_in_thirty_minutes_while_reception_is_open(tmp_path):
    hours = load_contact_hours(write_hours(tmp_path, "opening_hours"))
    tuesday_morning = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)  # 10:00 in London
    assert suggested_next_attempt(hours, tuesday_morning) == datetime(2026, 12, 8, 10, 30,
                                                                      tzinfo=UTC)


def test_after_closing_it_is_the_next_opening(tmp_path):
    hours = load_contact_hours(write_hours(tmp_path, "opening_hours"))
    friday_evening = datetime(2026, 12, 11, 17, 45, tzinfo=UTC)  # closes at 18:00
    assert suggested_next_attempt(hours, friday_evening) == datetime(2026, 12, 14, 9, 0,
                                                                     tzinfo=UTC)  # Monday


def test_round_the_clock_hours_take_it_as_it_is(tmp_path):
    hours = load_contact_hours(write_hours(tmp_path, "always"))
    night = datetime(2026, 12, 12, 2, 0, tzinfo=UTC)
    assert suggested_next_attempt(hours, night) == datetime(2026, 12, 12, 2, 30, tzinfo=UTC)
