"""`python -m booking api|worker|migrate|seed|erase|mailbox-quarantine`."""

import sys

from booking.adapters.metrics import collectors
from booking.operators.erase import erase_main
from booking.operators.mailbox_quarantine import quarantine_main
from booking.operators.seed import seed, seed_clinics
from booking.settings import BookingSettings
from booking.worker import build_loops
from clinic_shared.operators.service_cli import ServiceDefinition, main

SERVICE = ServiceDefinition(
    name="booking",
    default_port=8001,
    app_factory="booking.api.app:create_app",
    settings=BookingSettings,
    loops=build_loops,
    migrations="booking:migrations",
    seed=seed,
    reference_data=seed_clinics,
    collectors=collectors,
)

if __name__ == "__main__":
    if sys.argv[1:2] == ["erase"]:
        erase_main(sys.argv[2:])
    elif sys.argv[1:2] == ["mailbox-quarantine"]:
        sys.exit(quarantine_main(sys.argv[2:]))
    else:
        main(SERVICE)
