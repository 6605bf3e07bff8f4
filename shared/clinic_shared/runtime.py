"""Process tuning shared by every API and worker."""

import gc


def freeze_startup_heap() -> None:
    """Move everything alive after start-up (modules, schemas, routes) out of the garbage
    collector's reach, so a full collection scans only what requests create.

    Without it, a full collection walks the whole import graph (~75 ms here) and lands on
    whichever request happens to be running: measured as caseload p99 80 ms → 8 ms.
    """
    gc.collect()
    gc.freeze()
