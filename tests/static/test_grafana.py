"""The Grafana dashboard, its provisioning and the Prometheus overlay, checked without Docker."""

import json
import re
from pathlib import Path

import jsonschema
import yaml

from booking.adapters.metrics import SlaCollector
from booking.domain.sla_clock import SLA_EVENTS
from clinic_shared import metrics

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "clinic-operations.json"
OVERLAY = GRAFANA / "compose.monitoring.yml"
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
METRIC = re.compile(r"\b((?:http|outbox|consumer|dead_letter|booking)_[a-z0-9_]+)\b")


def exported_sample_names() -> set[str]:
    """Every sample name our services export (counters with _total, histograms with _bucket)."""
    names: set[str] = set()
    families = [*metrics.OutboxCollector("x", None).describe(),  # type: ignore[arg-type]
                *metrics.DeadLetterCollector(dict).describe(),
                *SlaCollector(None).describe()]  # type: ignore[arg-type]
    names |= {family.name for family in families}
    for metric in (metrics.HTTP_REQUESTS, metrics.HTTP_LATENCY, metrics.OUTBOX_PUBLISHED,
                   metrics.OUTBOX_FAILED, metrics.CONSUMED, metrics.CONSUME_LATENCY,
                   metrics.CONSUME_FAILURES, SLA_EVENTS):
        for family in metric.describe():
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
            names |= {family.name + s for s in suffixes.get(family.type, [""])}
    return names


def panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def test_dashboard_queries_only_metrics_the_services_export():
    known = exported_sample_names()
    for panel in panels():
        for target in panel["targets"]:
            used = set(METRIC.findall(target["expr"]))
            assert used, f"{panel['title']}: no clinic metric in {target['expr']}"
            assert used <= known, f"{panel['title']}: unknown {sorted(used - known)}"


def test_dashboard_shows_what_operators_watch():
    exprs = " ".join(t["expr"] for p in panels() for t in p["targets"])
    for needed in ("http_request_duration_seconds_bucket", "outbox_backlog",
                   "outbox_oldest_unsent_age_seconds", "consumer_handle_duration_seconds_bucket",
                   "consumer_failures_total", "dead_letter_messages",
                   "booking_sla_booked_within_24h_ratio", "booking_sla_breaches"):
        assert needed in exprs, needed


def test_panels_are_unique_and_use_the_provisioned_datasource():
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {source["uid"] for source in provisioned["datasources"]}
    for panel in panels():
        assert panel["datasource"]["uid"] in uids, panel["title"]
        assert panel["gridPos"]["w"] <= 24


def test_prometheus_scrapes_every_api_and_worker_on_the_ports_compose_gives_them():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    config = yaml.safe_load((GRAFANA / "prometheus.yml").read_text())
    targets = {target for job in config["scrape_configs"]
               for group in job["static_configs"] for target in group["targets"]}
    for service in ("booking", "referral", "notify"):
        worker_port = compose[f"{service}-worker"]["environment"]["WORKER_METRICS_PORT"]
        assert f"{service}-worker:{worker_port}" in targets
        assert any(t.startswith(f"{service}-api:") for t in targets)


def test_overlay_is_valid_compose_and_mounts_files_that_exist():
    overlay = yaml.safe_load(OVERLAY.read_text())
    schema = json.loads(SCHEMA.read_text())
    assert list(jsonschema.Draft7Validator(schema).iter_errors(overlay)) == []
    for service in overlay["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    env_example = (ROOT / ".env.example").read_text()
    for variable in re.findall(r"\$\{([A-Z_]+)", OVERLAY.read_text()):
        assert f"{variable}=" in env_example, f"{variable} missing from .env.example"
