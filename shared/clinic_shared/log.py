"""Structured JSON logging with the correlation id on every line. Never log personal data."""

import logging
import re
import sys

import structlog

from clinic_shared.correlation import correlation_id_var


def _add_correlation_id(
    _logger: object, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    correlation_id = correlation_id_var.get()
    if correlation_id is not None:
        event_dict.setdefault("correlation_id", correlation_id)
    return event_dict


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w-])(?:\+|00)?(?:44\s?|0)(?:\d[\s-]?){9,10}(?![\w-])")


def redact(text: str) -> str:
    """Mask e-mail addresses and UK phone numbers in free text."""
    if "@" in text:  # no address without one: skip the scan
        text = EMAIL.sub("[email]", text)
    return PHONE.sub("[phone]", text)


# What the processors before the redaction add themselves (a level name, a logger's dotted
# name, an ISO timestamp): never a patient's words, so not scanned on every line.
_OWN_FIELDS = frozenset({"level", "logger", "timestamp"})


def _redact_personal_data(
    _logger: object, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Last line of defence: no e-mail address or phone number leaves in a log line."""
    for key, value in event_dict.items():
        if isinstance(value, str) and key not in _OWN_FIELDS:
            event_dict[key] = redact(value)
    return event_dict


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route stdlib and structlog records through one JSON (or console) renderer."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_correlation_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact_personal_data,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            lambda _l, _m, d: {"service": service, **d},
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("pika", "uvicorn.access", "mail.log", "aiosmtpd"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
