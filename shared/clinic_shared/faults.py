"""Named crash points for the fault suite: inert unless FAULT_POINTS arms them (dev/test only).

`FAULT_POINTS="consumer.after_commit=40"` makes the 40th pass through that point SIGKILL its own
process (for the consumer: the commit holding its 40th message), exactly where a real crash would
hurt most. Settings refuse it in production.
"""

import os
import signal
import threading

from clinic_shared.log import get_logger

log = get_logger(__name__)

CONSUMER_AFTER_COMMIT = "consumer.after_commit"  # effect committed, message not yet acked
RELAY_AFTER_CONFIRM = "relay.after_confirm"  # broker confirmed, row not yet marked sent
SLA_CLOCK_AFTER_CLAIM = "sla_clock.after_claim"  # due rows locked, nothing committed
MAILBOX_AFTER_TAKE = "mailbox.after_take"  # one e-mail taken in, the rest of its batch not
WEBHOOK_AFTER_SEND = "webhook.after_send"  # the receiver said 2xx, not yet recorded
KNOWN = frozenset((CONSUMER_AFTER_COMMIT, RELAY_AFTER_CONFIRM, SLA_CLOCK_AFTER_CLAIM,
                   MAILBOX_AFTER_TAKE, WEBHOOK_AFTER_SEND))

_armed: dict[str, int] = {}
_lock = threading.Lock()


def parse(spec: str) -> dict[str, int]:
    """`"a=3,b=1"` → {"a": 3, "b": 1}; a bare name means its first pass."""
    points: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition("=")
        if name not in KNOWN:
            raise ValueError(f"unknown fault point {name!r} (known: {', '.join(sorted(KNOWN))})")
        points[name] = int(count or 1)
        if points[name] < 1:
            raise ValueError(f"fault point {name!r} needs a count of at least 1")
    return points


def arm(spec: str) -> None:
    with _lock:
        _armed.clear()
        _armed.update(parse(spec))
    if _armed:
        log.warning("faults.armed", points=sorted(_armed))


def crash_point(name: str, passes: int = 1) -> None:
    """SIGKILL this process on the armed pass through `name`; nothing otherwise. `passes`
    counts several at once: a commit that took a batch of messages passes once for each, so
    "=40" means the commit holding the 40th message, however the messages were batched."""
    if not _armed:
        return
    with _lock:
        left = _armed.get(name)
        if left is None:
            return
        _armed[name] = left - passes
    if left > 0 >= left - passes:
        log.warning("faults.crashing", point=name)
        os.kill(os.getpid(), signal.SIGKILL)
