"""The crash points are inert unless armed, and production refuses to arm them."""

import pytest

from clinic_shared import faults
from clinic_shared.settings import ServiceSettings

pytestmark = pytest.mark.faults


def test_parse_names_and_counts_and_refuses_unknown_points():
    assert faults.parse("consumer.after_commit=40, relay.after_confirm") == {
        "consumer.after_commit": 40, "relay.after_confirm": 1}
    assert faults.parse("") == {}
    with pytest.raises(ValueError, match="unknown fault point"):
        faults.parse("consumer.after_comit=1")


def test_an_unarmed_point_does_nothing():
    faults.arm("")
    faults.crash_point(faults.CONSUMER_AFTER_COMMIT)  # still here


def test_production_refuses_fault_points():
    with pytest.raises(ValueError, match="FAULT_POINTS"):
        ServiceSettings(environment="production", secret_key="x" * 40,
                        amqp_url="amqp://clinic:s3cret@broker/%2F",
                        auth_public_key="pem", fault_points="relay.after_confirm=1")
    assert ServiceSettings(environment="test", secret_key="x" * 40,
                           fault_points="relay.after_confirm=1").fault_points


def test_a_batch_passes_once_for_each_message_it_holds():
    """Armed at 5: a commit of 3 messages leaves the process running, the next batch of 3
    (holding the 5th) kills it, however the messages were batched."""
    import subprocess
    import sys

    script = ("from clinic_shared import faults\n"
              "faults.arm('consumer.after_commit=5')\n"
              "faults.crash_point(faults.CONSUMER_AFTER_COMMIT, 3)\n"
              "print('alive after 3', flush=True)\n"
              "faults.crash_point(faults.CONSUMER_AFTER_COMMIT, 3)\n"
              "print('alive after 6', flush=True)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == -9
    assert [line for line in run.stdout.splitlines() if line.startswith("alive")] == [
        "alive after 3"]
