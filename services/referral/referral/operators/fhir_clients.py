"""`python -m referral fhir-client create`: register a system allowed to call the FHIR API with
OAuth2 client credentials; its secret is printed once."""

import argparse

from clinic_shared.auth.client_tokens import SCOPES
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.log import configure_logging
from referral.domain.fhir_clients import (
    FhirClientExists,
    FhirClientInputError,
    NewFhirClient,
    create_fhir_client,
)
from referral.settings import ReferralSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m referral fhir-client",
        description="Systems allowed to call the FHIR API with OAuth2 client credentials.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="register one client; prints its secret once")
    create.add_argument("--client-id", required=True)
    create.add_argument("--name", required=True, help="as reception sees it on a referral")
    create.add_argument("--organisation", help="e.g. the GP practice or insurer")
    create.add_argument("--scope", action="append", dest="scopes", default=[], choices=SCOPES,
                        help="repeat for each scope (system/*.read: every patient's records)")
    return parser


def fhir_client_main(argv: list[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = ReferralSettings()
    configure_logging("referral", settings.log_level, settings.log_format)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        new = NewFhirClient(args.client_id, args.name, args.organisation, tuple(args.scopes))
        secret = create_fhir_client(make_session_factory(engine), new)
    except FhirClientInputError as exc:
        parser.exit(2, f"{parser.prog} create: error: {exc}\n")
    except FhirClientExists:
        parser.exit(1, f"{parser.prog} create: error: client {args.client_id!r} exists\n")
    finally:
        engine.dispose()
    print(f"client_id={new.client_id}\nclient_secret={secret}\n"
          "(the secret is shown once; keep it in the client's secret store)")
