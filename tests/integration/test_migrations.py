"""Each service's migrations build its schema from empty, match its models, and tear down."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from clinic_shared.migrations import downgrade, upgrade

SERVICES = {
    "booking": {"appointment_requests", "outbox_messages", "inbox_messages"},
    "referral": {"triage_entries", "outbox_messages", "inbox_messages"},
    "notify": {"notifications", "delivery_attempts", "outbox_messages", "inbox_messages"},
}


# where each service keeps its tables (docs/ARCHITECTURE.md: adapters/tables.py)
TABLES = {service: f"{service}.adapters.tables" for service in ("booking", "referral", "notify")}


def _metadata(service: str):
    module = __import__(TABLES[service], fromlist=["metadata"])
    return module.metadata


@pytest.mark.parametrize("service", SERVICES)
def test_upgrade_from_empty_matches_models_and_downgrades_to_nothing(service, make_database):
    url = make_database(f"mig_{service}")
    engine = create_engine(url)

    upgrade(f"{service}:migrations", url)
    tables = set(inspect(engine).get_table_names())
    assert SERVICES[service] <= tables
    with engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                 _metadata(service))
        triggers = conn.execute(text(
            "SELECT tgname FROM pg_trigger WHERE tgname = 'outbox_messages_notify'")).all()
        outbox_options = conn.execute(text(
            "SELECT reloptions FROM pg_class WHERE relname = 'outbox_messages'")).scalar_one()
    assert drift == [], f"models and migrations disagree: {drift}"
    assert triggers, "the trigger that wakes the outbox relay is missing"
    # every event's row is updated once (marked sent): vacuumed after 1 % changes, not 20 %
    assert set(outbox_options) == {"autovacuum_vacuum_scale_factor=0.01",
                                   "autovacuum_analyze_scale_factor=0.01"}

    downgrade(f"{service}:migrations", url)
    engine.dispose()
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    with engine.connect() as conn:
        functions = conn.execute(text(
            "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public'")).all()
    assert functions == []
    engine.dispose()


def test_notify_seals_the_webhook_secrets_it_kept_in_clear_and_opens_them_going_back(
        make_database):
    """0010: a subscription made before it keeps its secret, now sealed; 0009 again opens it."""
    from notify.domain.webhook_secrets import SecretBox
    from notify.settings import NotifySettings

    url = make_database("mig_notify_secrets")
    upgrade("notify:migrations", url, "0009")
    engine = create_engine(url)
    secret = "whsec_" + "c2VjcmV0IG9mIGEgc3Vic2NyaXB0aW9uIG1hZGUgYmVmb3Jl"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO webhook_subscriptions (id, name, url, event_types, scope, secret, "
            "active, created_by) VALUES (gen_random_uuid(), 'crm', 'https://crm.example/', "
            "ARRAY['contact.requested'], 'basic', :secret, true, 'lead')"), {"secret": secret})
    upgrade("notify:migrations", url)
    with engine.connect() as conn:
        dumped = conn.execute(text(
            "SELECT row_to_json(s)::text FROM webhook_subscriptions s")).scalar_one()
        sealed = conn.execute(text("SELECT secret_sealed FROM webhook_subscriptions")).scalar_one()
    assert secret not in dumped and secret[6:] not in dumped
    assert SecretBox(NotifySettings().webhook_secret_key_list()).open(sealed) == secret
    downgrade("notify:migrations", url, "0009")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT secret FROM webhook_subscriptions")).scalar_one() \
            == secret
    engine.dispose()
