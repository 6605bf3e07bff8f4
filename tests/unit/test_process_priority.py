"""A worker lowers its CPU priority to WORKER_NICENESS, never raises it, and a niceness out of
Unix's range is refused when the process starts."""

import subprocess
import sys

import pytest
from pydantic import ValidationError

from booking.settings import BookingSettings

LOWER_TWICE = """
import os
from clinic_shared.runtime import yield_cpu_to_apis
print(os.nice(0), yield_cpu_to_apis(10), yield_cpu_to_apis(5), os.nice(0))
"""


def test_a_worker_lowers_its_priority_once_and_never_raises_it() -> None:
    # in a process of its own: a lowered priority cannot be raised again without privileges
    out = subprocess.run([sys.executable, "-c", LOWER_TWICE], capture_output=True, text=True,
                         check=True).stdout.split()
    start, lowered, again, final = map(int, out)
    assert lowered == final == max(start, 10)
    assert again == lowered  # asking for 5 afterwards leaves it at 10


@pytest.mark.parametrize("value", ["-5", "20"])
def test_a_niceness_out_of_range_is_refused_naming_the_setting(monkeypatch, value) -> None:
    monkeypatch.setenv("WORKER_NICENESS", value)
    with pytest.raises(ValidationError, match="worker_niceness"):
        BookingSettings(_env_file=None)
