"""Runs a service's background loops (consumers, outbox relay, timers) until SIGTERM or Ctrl-C."""

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import start_http_server
from prometheus_client.registry import Collector

from clinic_shared.log import get_logger
from clinic_shared.runtime import freeze_startup_heap
from clinic_shared.settings import ServiceSettings

log = get_logger(__name__)


@dataclass(frozen=True)
class Loop:
    name: str
    run: Callable[[threading.Event], None]


def run_loops(loops: list[Loop], metrics_port: int | None, stop: threading.Event | None = None
              ) -> None:
    """Start each loop on its own thread; on SIGTERM/SIGINT let them finish and return."""
    stop = stop or threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("worker.stopping", signal=signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    if metrics_port:
        start_http_server(metrics_port)
    threads = [
        threading.Thread(target=_guarded(loop, stop), name=loop.name, daemon=True)
        for loop in loops
    ]
    freeze_startup_heap()
    for thread in threads:
        thread.start()
    log.info("worker.started", loops=[loop.name for loop in loops], metrics_port=metrics_port)
    stop.wait()
    for thread in threads:
        thread.join(timeout=35)
    log.info("worker.stopped")


def register_scrape_time_metrics(settings: ServiceSettings,
                                 extra: list[Collector] | None = None) -> None:
    """The gauges read at scrape time for this service's worker: outbox backlog and age of the
    oldest unsent row (database), its dead-letter queues' depth (broker), and `extra`."""
    from clinic_shared.db import make_engine
    from clinic_shared.messaging.connection import connect
    from clinic_shared.messaging.topology import Topology
    from clinic_shared.metrics import DeadLetterCollector, OutboxCollector, register_once

    engine = make_engine(settings.database_url, pool_size=1)
    topology = Topology(settings.amqp_prefix)
    dead_letter_queues = [topology.dead_letter_queue(q)
                          for q in topology.queues_of(settings.service_name)]

    def dead_letter_counts() -> dict[str, int]:
        connection = connect(settings.amqp_url, name=f"{settings.service_name}-metrics")
        try:
            channel = connection.channel()
            return {queue.removeprefix(topology.prefix):
                    channel.queue_declare(queue, passive=True).method.message_count
                    for queue in dead_letter_queues}
        finally:
            connection.close()

    register_once(OutboxCollector(settings.service_name, engine))
    register_once(DeadLetterCollector(dead_letter_counts))
    for collector in extra or []:
        register_once(collector)


def _guarded(loop: Loop, stop: threading.Event) -> Callable[[], None]:
    """Keep a loop alive: an unexpected crash is logged and the loop restarted."""

    def target() -> None:
        while not stop.is_set():
            try:
                loop.run(stop)
            except Exception:
                log.exception("worker.loop_crashed", loop=loop.name)
                stop.wait(1.0)

    return target


def poll_in_batches(name: str, check_once: Callable[[], int], batch: int, interval: float,
                    stop: threading.Event) -> None:
    """Run `check_once` (which claims and handles up to `batch` due rows) until `stop`; wait
    `interval` whenever a batch comes back short, and ride out database outages."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    while not stop.is_set():
        try:
            handled = check_once()
        except (OperationalError, InterfaceError) as exc:
            log.warning("worker.database_unavailable", loop=name, error=type(exc).__name__)
            handled = 0
        if handled < batch:
            stop.wait(interval)
