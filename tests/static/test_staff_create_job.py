"""deploy/k8s/base/jobs/referral-staff-create.yaml: the first admin on Kubernetes, the same
`clinic staff create` an operator runs under compose, with referral-migrate's settings and the
password from a Secret file."""

from pathlib import Path

import kubernetes_validate
import yaml

from referral.operators.staff_accounts import build_parser

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base"
JOB = K8S / "jobs" / "referral-staff-create.yaml"
MIGRATE = K8S / "referral" / "migrate.yaml"


def container(job: dict) -> dict:
    [only] = job["spec"]["template"]["spec"]["containers"]
    return only


def test_the_job_is_a_valid_kubernetes_job() -> None:
    job = yaml.safe_load(JOB.read_text())
    assert job["kind"] == "Job"
    kubernetes_validate.validate(job, "1.30", strict=True)


def test_the_job_makes_an_admin_once_with_the_password_from_a_secret_file() -> None:
    job = yaml.safe_load(JOB.read_text())
    command = container(job)["command"]
    assert command[:3] == ["clinic", "staff", "create"]
    args = build_parser().parse_args(command[2:])
    assert (args.role, args.if_missing) == ("admin", True)
    mounts = {m["name"]: m["mountPath"] for m in container(job)["volumeMounts"]}
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    [secret_volume] = [name for name, path in mounts.items()
                       if str(args.password_file).startswith(path + "/")]
    secret = volumes[secret_volume]["secret"]
    assert secret["secretName"] == "clinic-first-admin"
    assert [item["path"] for item in secret["items"]] == [args.password_file.name]
    for variable in container(job).get("env", []):
        assert "password" not in variable["name"].lower() or variable["name"] in {
            "DB_PASSWORD", "AMQP_PASSWORD"}, "the admin's password only from the file"


def test_the_job_runs_with_referral_migrates_settings_as_the_image_user() -> None:
    """Production settings refuse to start without them; the pod is as locked down."""
    job, migrate = yaml.safe_load(JOB.read_text()), yaml.safe_load(MIGRATE.read_text())
    env = {v["name"]: v for v in container(job)["env"]}
    wanted = {v["name"]: v for v in container(migrate)["env"]
              if v["name"] != "AUTH_PRIVATE_KEY_FILE"}
    assert env == wanted
    assert container(job)["envFrom"] == container(migrate)["envFrom"]
    assert job["spec"]["template"]["spec"]["securityContext"] == \
        migrate["spec"]["template"]["spec"]["securityContext"]
    assert container(job)["securityContext"] == container(migrate)["securityContext"]
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "referral"
