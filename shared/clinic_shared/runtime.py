"""Process tuning shared by every API and worker."""

import contextlib
import ctypes
import ctypes.util
import gc
import os


def freeze_startup_heap() -> None:
    """Move everything alive after start-up (modules, schemas, routes) out of the garbage
    collector's reach, so a full collection scans only what requests create.

    Without it, a full collection walks the whole import graph (~75 ms here) and lands on
    whichever request happens to be running: measured as caseload p99 80 ms → 8 ms.
    """
    gc.collect()
    gc.freeze()


def refreeze_heap() -> None:
    """After start-up objects were replaced (a triage pipeline compiled afresh): what was frozen
    and is now garbage in cycles collected once, and what lives frozen again (in a process that
    froze its heap); then the memory freed is given back to the system, where the C library
    can (glibc's `malloc_trim`): spaCy's structures are many small C allocations, which would
    otherwise stay counted against the process until reused."""
    if gc.get_freeze_count():
        gc.unfreeze()
        freeze_startup_heap()
    else:
        gc.collect()
    # not glibc (no malloc_trim): the memory is reused as the process goes on
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def yield_cpu_to_apis(niceness: int) -> int:
    """Lower this process's CPU priority to `niceness` (never raise it back); the niceness now.

    A worker's work can wait a moment; a patient at the form cannot. Where APIs and workers
    share the processors (one server, `clinic run`, the bench), the kernel then gives the
    processors to the APIs first and the workers take the rest: under a flood the APIs answer
    and admit more, and the workers, catching up, take their messages in bigger batches (fewer
    transactions and round trips per message). Containers each have their own share instead
    (docker-compose.yml's `cpu_shares`)."""
    current = os.nice(0)
    if niceness > current:
        return os.nice(niceness - current)
    return current
