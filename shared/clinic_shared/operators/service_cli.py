"""`python -m <service> api|worker|migrate|wait-for-schema|seed`: how every service process is
started."""

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn
from prometheus_client.registry import Collector
from sqlalchemy.exc import OperationalError

from clinic_shared import faults
from clinic_shared.db import create_database_if_missing, make_engine, wait_for_database
from clinic_shared.log import configure_logging, get_logger
from clinic_shared.migrations import schema_is_current, upgrade
from clinic_shared.runtime import yield_cpu_to_apis
from clinic_shared.settings import ServiceSettings
from clinic_shared.worker import Loop, register_scrape_time_metrics, run_loops

log = get_logger(__name__)


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    default_port: int
    app_factory: str  # import string of a zero-argument FastAPI factory
    settings: Callable[[], ServiceSettings]
    loops: Callable[[ServiceSettings], list[Loop]]
    migrations: str  # Alembic script location, "package:folder"
    seed: Callable[[ServiceSettings], None] | None = None
    # what every deployment needs after each migration (booking's clinics), never demo data
    reference_data: Callable[[ServiceSettings], None] | None = None
    # the service's own gauges read at scrape time (e.g. booking's SLA figures)
    collectors: Callable[[ServiceSettings], list[Collector]] | None = None


def main(service: ServiceDefinition, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {service.name}")
    commands = parser.add_subparsers(dest="command", required=True)
    api = commands.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=service.default_port)
    commands.add_parser("worker", help="run consumers, the outbox relay and timers")
    migrate = commands.add_parser("migrate", help="wait for the database and migrate it")
    migrate.add_argument("--create-database", action="store_true",
                         help="create the database first if it does not exist")
    migrate.add_argument("--seed", action="store_true", help="seed demo data afterwards")
    wait = commands.add_parser(
        "wait-for-schema", help="wait until the database is migrated to this code's schema "
        "(an init container's command: new code never serves the old schema)")
    wait.add_argument("--timeout", type=float, default=600.0, help="seconds before giving up")
    commands.add_parser("seed", help="seed demo data (idempotent)")
    args = parser.parse_args(argv)

    settings = service.settings()
    configure_logging(service.name, settings.log_level, settings.log_format)
    if args.command == "api":
        # X-Forwarded-* are believed only from the proxies FORWARDED_ALLOW_IPS names (none by
        # default): from anyone else they would choose the address the form's limits count.
        # The event loop is asyncio's, not uvloop's: uvloop's libuv (1.45 on, libuv pull
        # request 3696) accepts one connection per turn of the loop, so a busy API under a flood
        # of new connections left hundreds in the listen queue for seconds (the bench's floods:
        # refusals answered in 5-14 s); asyncio's accepts every waiting connection at once.
        uvicorn.run(service.app_factory, factory=True, host=args.host, port=args.port,
                    loop="asyncio", log_config=None, access_log=False,
                    proxy_headers=bool(settings.forwarded_allow_ips),
                    forwarded_allow_ips=settings.forwarded_allow_ips or None,
                    root_path=settings.root_path)
    elif args.command == "worker":
        faults.arm(settings.fault_points)
        log.info("worker.priority", niceness=yield_cpu_to_apis(settings.worker_niceness))
        if settings.worker_metrics_port:
            register_scrape_time_metrics(
                settings, service.collectors(settings) if service.collectors else [])
        run_loops(service.loops(settings), settings.worker_metrics_port)
    elif args.command == "migrate":
        if args.create_database and create_database_if_missing(settings.database_url):
            log.info("database.created", service=service.name)
        engine = make_engine(settings.database_url, pool_size=1)
        wait_for_database(engine)
        engine.dispose()
        upgrade(service.migrations, settings.database_url)
        log.info("database.migrated", service=service.name)
        if service.reference_data is not None:
            service.reference_data(settings)
        if args.seed and service.seed is not None:
            service.seed(settings)
    elif args.command == "wait-for-schema":
        if not wait_for_schema(service, settings, args.timeout):
            log.error("database.schema_behind", service=service.name, waited=args.timeout)
            sys.exit(1)
        log.info("database.schema_current", service=service.name)
    elif args.command == "seed" and service.seed is not None:
        service.seed(settings)


def wait_for_schema(service: ServiceDefinition, settings: ServiceSettings, timeout: float,
                    interval: float = 2.0) -> bool:
    """Poll until the database answers at the migrations' head; False after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if schema_is_current(service.migrations, settings.database_url):
                return True
        except OperationalError:
            log.info("database.unreachable", service=service.name)
        if time.monotonic() + interval > deadline:
            return False
        time.sleep(interval)
