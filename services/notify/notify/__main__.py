"""`python -m notify api|worker|migrate|reseal-webhook-secrets`."""

import sys

from clinic_shared.operators.service_cli import ServiceDefinition, main
from notify.operators.webhook_secrets import reseal_main
from notify.settings import NotifySettings
from notify.worker import build_loops

SERVICE = ServiceDefinition(
    name="notify",
    default_port=8003,
    app_factory="notify.api.app:create_app",
    settings=NotifySettings,
    loops=build_loops,
    migrations="notify:migrations",
)

if __name__ == "__main__":
    if sys.argv[1:2] == ["reseal-webhook-secrets"]:
        reseal_main(sys.argv[2:])
    else:
        main(SERVICE)
