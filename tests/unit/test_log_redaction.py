"""The logs' last line of defence: e-mail addresses and UK phone numbers are masked in every
field a line carries, whichever processor or caller put them there."""

import io
import json
import logging

import pytest
import structlog

from clinic_shared.correlation import correlation_id_var
from clinic_shared.log import configure_logging, get_logger, redact


def test_free_text_is_masked():
    assert redact("write to zoe.p+x@clinic-mail.co.uk") == "write to [email]"
    assert redact("ring 07400 123456 or +44 7400 123456") == "ring [phone] or [phone]"
    assert redact("no contact details 2026-11-21T10:23:32Z") == (
        "no contact details 2026-11-21T10:23:32Z")


@pytest.fixture
def logged():
    """What the services' logging configuration writes, restored afterwards."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    configure_logging("test", "INFO", "json")
    out = io.StringIO()
    root.handlers[0].stream = out
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


def test_every_field_of_a_line_is_masked_and_the_line_keeps_its_shape(logged):
    token = correlation_id_var.set("from bert@example.org")
    try:
        get_logger("tests.redaction").info("consumer.processed", note="07400 123456",
                                           event_id="653dcdbc-a2b4-4d25-8270-7a600c6d7b09")
    finally:
        correlation_id_var.reset(token)
    line = json.loads(logged.getvalue())
    assert list(line) == ["service", "note", "event_id", "event", "correlation_id", "level",
                          "logger", "timestamp"]
    assert line["note"] == "[phone]"
    assert line["correlation_id"] == "from [email]"
    assert line["event_id"] == "653dcdbc-a2b4-4d25-8270-7a600c6d7b09"
    assert (line["level"], line["logger"]) == ("info", "tests.redaction")
