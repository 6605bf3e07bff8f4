"""`python -m referral api|worker|migrate|seed|staff|fhir-client`."""

import sys

from clinic_shared.operators.service_cli import ServiceDefinition, main
from referral.operators.fhir_clients import fhir_client_main
from referral.operators.seed import seed
from referral.operators.staff_accounts import staff_main
from referral.settings import ReferralSettings
from referral.worker import build_loops

SERVICE = ServiceDefinition(
    name="referral",
    default_port=8002,
    app_factory="referral.api.app:create_app",
    settings=ReferralSettings,
    loops=build_loops,
    migrations="referral:migrations",
    seed=seed,
)

if __name__ == "__main__":
    if sys.argv[1:2] == ["staff"]:
        staff_main(sys.argv[2:])
    elif sys.argv[1:2] == ["fhir-client"]:
        fhir_client_main(sys.argv[2:])
    else:
        main(SERVICE)
