"""`python -m booking erase`: the right to erasure, from the operator's command line."""

import argparse

from booking.domain.erasure import PatientIdentity, erase_patient
from booking.domain.errors import NotAnIdentity
from booking.settings import BookingSettings
from clinic_shared.log import configure_logging, get_logger
from clinic_shared.operators.erasure_preview import holdings
from clinic_shared.operators.reconcile import database_urls

log = get_logger(__name__)


def erase_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m booking erase",
        description="Erase one patient's personal data in every service (right to erasure), "
                    "named by one exact e-mail address, phone number or reference.")
    parser.add_argument("--email", help="compared case-insensitively, character for character")
    parser.add_argument("--phone", help="a UK number as the patient typed it, or E.164")
    parser.add_argument("--reference", help="a request's reference, e.g. K7P-4MXQ")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what each service would erase; change nothing")
    args = parser.parse_args(argv)
    try:
        identity = PatientIdentity.parse(email=args.email, phone=args.phone,
                                         reference=args.reference)
    except NotAnIdentity as exc:
        parser.error(str(exc))
    settings = BookingSettings()
    configure_logging("booking", settings.log_level, settings.log_format)
    matched = erase_patient(settings, identity, dry_run=args.dry_run)
    references = ", ".join(m.reference for m in matched) or "nothing"
    if args.dry_run:
        print(f"Dry run: nothing was changed. Erasing would anonymise {len(matched)} "
              "appointment request(s).")
        print(f"  booking   {references}")
        if matched:
            for service, held in holdings(database_urls(),
                                          [m.request_id for m in matched]).items():
                print(f"  {service:<9} {held}")
        return
    log.info("erasure.done", requests=len(matched))
    print(f"Erased {len(matched)} appointment request(s) ({references}); referral and notify "
          "follow via the broker.")
