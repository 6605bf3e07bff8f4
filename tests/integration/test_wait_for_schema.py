"""An init container's `python -m <svc> wait-for-schema`: new code starts only once the database
is migrated to its head, so a rollout never serves the old schema."""

import pytest

from booking.__main__ import SERVICE
from clinic_shared.migrations import downgrade, upgrade
from clinic_shared.operators.service_cli import main


def wait_for_schema(monkeypatch: pytest.MonkeyPatch, url: str) -> int:
    monkeypatch.setenv("BOOKING_DATABASE_URL", url)
    try:
        main(SERVICE, ["wait-for-schema", "--timeout", "0"])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_waits_while_the_database_is_a_migration_behind(migrated_database, monkeypatch):
    url = migrated_database("booking", "schema")
    downgrade(SERVICE.migrations, url, "-1")
    assert wait_for_schema(monkeypatch, url) == 1

    upgrade(SERVICE.migrations, url)
    assert wait_for_schema(monkeypatch, url) == 0


def test_an_empty_database_is_not_ready(make_database, monkeypatch):
    assert wait_for_schema(monkeypatch, make_database("schema_empty")) == 1
