"""`clinic`: the operator's command. Run everything locally, migrate, seed, export broker topology,
reconcile the services.

It starts services as separate processes (`python -m <service> ...`) and never imports their
code, so it stays on the shared side of the service boundaries.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from clinic_shared.auth.keys import ensure_local_key_pair
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.messaging.dead_letters import dead_letter_counts, inspect, redrive
from clinic_shared.messaging.topology import Topology
from clinic_shared.operators.reconcile import database_urls, reconcile, render
from clinic_shared.settings import ServiceSettings
from clinic_shared.triage.corpus_parts import DEVELOPMENT_PARTS, HELD_OUT_PARTS


@dataclass(frozen=True)
class ServiceProcess:
    service: str
    port: int
    metrics_port: int


CORPUS = Path("tests/triage_corpus")
DEVELOPMENT_CORPORA = tuple(CORPUS / f"{part}.jsonl" for part in DEVELOPMENT_PARTS)
DEFAULT_CORPORA = (*DEVELOPMENT_CORPORA,
                   *(CORPUS / f"{part}.jsonl" for part in HELD_OUT_PARTS))

SERVICES = (
    ServiceProcess("booking", 8001, 9101),
    ServiceProcess("referral", 8002, 9102),
    ServiceProcess("notify", 8003, 9103),
)


def _python(service: str, *args: str) -> list[str]:
    return [sys.executable, "-m", service, *args]


def migrate(seed: bool) -> None:
    """Create each service's database if missing, migrate it, and optionally seed demo data."""
    args = ["migrate", "--create-database"] + (["--seed"] if seed else [])
    jobs = [(svc.service, subprocess.Popen(_python(svc.service, *args))) for svc in SERVICES]
    failed = [name for name, job in jobs if job.wait() != 0]
    if failed:
        sys.exit(f"migration failed for: {', '.join(failed)}")


def run(host: str) -> int:
    """Migrate, seed, then run every API and worker until Ctrl-C; stop them all on the way out."""
    os.environ.setdefault("LOG_FORMAT", "console")
    # no front door here: the staff pages (referral) call booking and notify on their own ports
    public = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    ports = {svc.service: f"http://{public}:{svc.port}" for svc in SERVICES}
    os.environ.setdefault("PAGES_BOOKING_URL", ports["booking"])
    os.environ.setdefault("PAGES_NOTIFY_URL", ports["notify"])
    os.environ.setdefault("CORS_ALLOW_ORIGINS", ports["referral"])
    migrate(seed=True)
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    for svc in SERVICES:
        env = {**os.environ, "WORKER_METRICS_PORT": str(svc.metrics_port)}
        children.append((f"{svc.service}-api", subprocess.Popen(
            _python(svc.service, "api", "--host", host, "--port", str(svc.port)), env=env)))
        children.append((f"{svc.service}-worker", subprocess.Popen(
            _python(svc.service, "worker"), env=env)))
    _wait_until_healthy(host)
    print("\nClinic services are running:", flush=True)
    for svc in SERVICES:
        print(f"  {svc.service:<9} http://{host}:{svc.port}/docs   "
              f"(ready: /readyz, metrics: /metrics; worker metrics :{svc.metrics_port})")
    print(f"  mail sink  http://{host}:8003/api/mail-sink/messages (when SMTP_HOST is unset)")
    print("Press Ctrl-C to stop.\n", flush=True)
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    while not stopping:
        for name, child in children:
            if child.poll() is not None:
                print(f"{name} exited with {child.returncode}; stopping everything.",
                      file=sys.stderr)
                exit_code, stopping = 1, True
        time.sleep(0.3)
    for _, child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 40
    for _, child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    print("All clinic services stopped.")
    return exit_code


def mint_token(role: Role, subject: str, name: str, therapist_id: uuid.UUID | None,
               minutes: int) -> str:
    """A staff token signed with the configured private key (AUTH_PRIVATE_KEY[_FILE])."""
    settings = ServiceSettings()
    private_key = settings.private_key_pem()
    if not private_key:
        sys.exit("no private key: set AUTH_PRIVATE_KEY or AUTH_PRIVATE_KEY_FILE")
    issuer = TokenIssuer(private_key, settings.auth_issuer, settings.auth_audience)
    principal = Principal(subject=subject, role=role, name=name or subject,
                          therapist_id=therapist_id)
    return issuer.issue(principal, ttl_seconds=minutes * 60)


def _wait_until_healthy(host: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    for svc in SERVICES:
        url = f"http://{host}:{svc.port}/healthz"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clinic", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _running_commands(commands)
    _operating_commands(commands)
    return parser


def _running_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Run, migrate, tokens, erasure, keys, accounts: what starts and sets up the services."""
    run_cmd = commands.add_parser("run", help="migrate, seed and run every API and worker")
    run_cmd.add_argument("--host", default="127.0.0.1")
    migrate_cmd = commands.add_parser("migrate", help="create and migrate every database")
    migrate_cmd.add_argument("--seed", action="store_true", help="seed demo data too")
    token_cmd = commands.add_parser("token", help="mint a staff token (local key pair)")
    token_cmd.add_argument("--role", required=True, choices=[r.value for r in Role])
    token_cmd.add_argument("--subject", default="operator")
    token_cmd.add_argument("--name", default="")
    token_cmd.add_argument("--therapist-id", type=uuid.UUID)
    token_cmd.add_argument("--minutes", type=int, default=60)
    erase_cmd = commands.add_parser(
        "erase", help="erase one patient's personal data in every service")
    erase_cmd.add_argument("--email")
    erase_cmd.add_argument("--phone")
    erase_cmd.add_argument("--reference")
    erase_cmd.add_argument("--dry-run", action="store_true",
                           help="list what each service would erase; change nothing")
    keys_cmd = commands.add_parser("keys", help="create the staff-token key pair if missing")
    keys_cmd.add_argument("--dir", default="var/keys")
    keys_cmd.add_argument("--public-dir", help="where the public key goes (default: --dir); "
                          "compose keeps it apart from the private key, which only referral "
                          "mounts")
    staff_cmd = commands.add_parser(
        "staff", help="local staff accounts, e.g. the first admin: staff create --role admin "
        "--username lead --name 'Clinic lead' (referral's REFERRAL_DATABASE_URL)",
        add_help=False)
    staff_cmd.add_argument("staff_args", nargs=argparse.REMAINDER)
    fhir_cmd = commands.add_parser(
        "fhir-client", help="systems allowed to call the FHIR API: fhir-client create "
        "--client-id gp-hackney --name 'Hackney GP' --scope system/ServiceRequest.write "
        "(referral's REFERRAL_DATABASE_URL; prints the secret once)", add_help=False)
    fhir_cmd.add_argument("fhir_args", nargs=argparse.REMAINDER)


def _operating_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]"
                        ) -> None:
    """Dead letters, reconciliation, topology, the triage engine's training and measure."""
    dead_cmd = commands.add_parser(
        "dead-letters", help="count, inspect or re-drive dead-lettered messages")
    dead_cmd.add_argument("--queue", help="a dead-letter queue, e.g. referral.booking-events"
                          ".dead-letter; without it, count every one")
    dead_cmd.add_argument("--redrive", action="store_true",
                          help="send the queue's messages back where they died")
    dead_cmd.add_argument("--limit", type=int, default=50)
    reconcile_cmd = commands.add_parser(
        "reconcile", help="requests without a triage entry or an acknowledgement (read-only; "
        "every service's *_DATABASE_URL)")
    reconcile_cmd.add_argument("--grace-minutes", type=float, default=15,
                               help="ignore requests younger than this (default 15)")
    reconcile_cmd.add_argument("--since-days", type=int, default=30)
    reconcile_cmd.add_argument("--limit", type=int, default=50,
                               help="references listed per kind (counts are always whole)")
    topology_cmd = commands.add_parser("topology", help="print the broker definitions (JSON)")
    topology_cmd.add_argument("--prefix", default="")
    train_cmd = commands.add_parser(
        "triage-train", help="train the triage engine's urgency screen and pathway model on "
        "labelled inquiries "
        "(needs the dev dependencies: scikit-learn)")
    train_cmd.add_argument("files", nargs="*", type=Path,
                           help="JSON-lines corpora (default: the development parts in "
                           "tests/triage_corpus/, never the held-out ones)")
    train_cmd.add_argument("--out", type=Path, default=None,
                           help="where to write the model (default: the shipped one)")
    eval_cmd = commands.add_parser(
        "triage-eval", help="measure the triage engine against labelled inquiries: red-flag "
        "recall and false alarms per category, pathway agreement, confusion matrix (exit 1 "
        "when a red flag is missed)")
    eval_cmd.add_argument("files", nargs="*", type=Path,
                          help="JSON-lines corpora (default: every part in "
                          "tests/triage_corpus/)")
    eval_cmd.add_argument("--vocabulary", default="",
                          help="a vocabulary file to try (default: TRIAGE_VOCABULARY_FILE or "
                          "the shipped one)")
    eval_cmd.add_argument("--json", action="store_true", help="the figures as JSON")


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    COMMANDS[args.command](args)


def _run(args: argparse.Namespace) -> None:
    sys.exit(run(args.host))


def _migrate(args: argparse.Namespace) -> None:
    migrate(args.seed)


def _token(args: argparse.Namespace) -> None:
    print(mint_token(Role(args.role), args.subject, args.name, args.therapist_id,
                     args.minutes))


def _erase(args: argparse.Namespace) -> None:
    forwarded = [f"--{key}={value}" for key in ("email", "phone", "reference")
                 if (value := getattr(args, key)) is not None]
    forwarded += ["--dry-run"] if args.dry_run else []
    sys.exit(subprocess.run(_python("booking", "erase", *forwarded)).returncode)


def _staff(args: argparse.Namespace) -> None:
    sys.exit(subprocess.run(_python("referral", "staff", *args.staff_args)).returncode)


def _fhir_client(args: argparse.Namespace) -> None:
    sys.exit(subprocess.run(_python("referral", "fhir-client", *args.fhir_args)).returncode)


def _keys(args: argparse.Namespace) -> None:
    folder, public_folder = Path(args.dir), Path(args.public_dir or args.dir)
    ensure_local_key_pair(folder / "jwt-private.pem", public_folder / "jwt-public.pem")
    print(f"staff-token key pair: {folder}/jwt-private.pem, {public_folder}/jwt-public.pem")


def _dead_letters(args: argparse.Namespace) -> None:
    settings = ServiceSettings()
    if args.queue is None:
        for queue, count in dead_letter_counts(settings.amqp_url,
                                               Topology(settings.amqp_prefix)).items():
            print(f"{count:6d}  {queue}")
    elif args.redrive:
        print(f"re-drove {redrive(settings.amqp_url, args.queue, args.limit)} message(s)")
    else:
        for letter in inspect(settings.amqp_url, args.queue, args.limit):
            print(f"{letter.message_id}  {letter.event_type}  {letter.reason}  "
                  f"deliveries={letter.deliveries}  from={letter.from_queue}")


def _reconcile(args: argparse.Namespace) -> None:
    report = reconcile(database_urls(), timedelta(minutes=args.grace_minutes),
                       args.since_days)
    print(render(report, args.limit))
    sys.exit(0 if report.clean else 1)


def _topology(args: argparse.Namespace) -> None:
    print(json.dumps(Topology(args.prefix).definitions(), indent=2))


def _triage_train(args: argparse.Namespace) -> None:
    from clinic_shared.triage.screen import DEFAULT_MODEL
    from clinic_shared.triage.screen_training import run_training
    from clinic_shared.triage.vocabulary import load_vocabulary

    categories = list(load_vocabulary(ServiceSettings().triage_vocabulary_file or None)
                      .red_flags)
    sys.exit(run_training(args.files or list(DEVELOPMENT_CORPORA), categories,
                          args.out or DEFAULT_MODEL))


def _triage_eval(args: argparse.Namespace) -> None:
    from clinic_shared.triage.evaluation import run_evaluation  # loads spaCy: only here

    vocabulary = args.vocabulary or ServiceSettings().triage_vocabulary_file
    sys.exit(run_evaluation(args.files or list(DEFAULT_CORPORA), vocabulary, args.json))


COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {
    "run": _run,
    "migrate": _migrate,
    "token": _token,
    "erase": _erase,
    "staff": _staff,
    "fhir-client": _fhir_client,
    "keys": _keys,
    "dead-letters": _dead_letters,
    "reconcile": _reconcile,
    "topology": _topology,
    "triage-train": _triage_train,
    "triage-eval": _triage_eval,
}


if __name__ == "__main__":
    main()
