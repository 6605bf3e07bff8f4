"""Static checks of the Kubernetes manifests in deploy/k8s (Kustomize base and overlays).

No cluster and no kustomize binary: `render()` below does, in Python, what `kustomize build` does
for the features these kustomizations use (resources, namespace, images, strategic-merge patches,
ConfigMap/Secret generators without a hash suffix) and refuses any other feature, so a
kustomization that grows beyond it fails here instead of being checked wrongly. The rendered
objects are then cross-checked against each other, against the app's settings classes (read
with `ast`, not imported), against deploy/rabbitmq/definitions.json and the Dockerfile.
"""

import ast
import ipaddress
import json
import re
from pathlib import Path, PurePosixPath

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
DEFINITIONS = ROOT / "deploy" / "rabbitmq" / "definitions.json"
TOPOLOGY = ROOT / "shared" / "clinic_shared" / "messaging" / "topology.py"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"

SERVICES = {"booking": (8001, 9101), "referral": (8002, 9102), "notify": (8003, 9103)}
API_PORTS = {svc: ports[0] for svc, ports in SERVICES.items()}
METRICS_PORTS = {svc: ports[1] for svc, ports in SERVICES.items()}
APP_IMAGES = {f"clinic-{svc}": svc for svc in SERVICES}

# Secrets that something other than the kustomization creates, with the keys they hold.
EXTERNAL_SECRETS = {
    "clinic-broker-default-user": {"username", "password"},  # RabbitMQ Cluster Operator
    "clinic-tls": {"tls.crt", "tls.key"},  # cert-manager, from the Ingress annotation
}
# Environment variables read by something other than the settings classes.
NON_SETTINGS_ENV: set[str] = set()
SMTP_AND_SMS_PORTS = {587, 465, 443}
MAILBOX_PORTS = {993, 587, 465}  # booking's worker: the inquiries mailbox and its answers
OUTSIDE_PORTS = {("notify", "worker"): SMTP_AND_SMS_PORTS, ("booking", "worker"): MAILBOX_PORTS}
APP_EGRESS_PORTS = {53, 5432, 5672}
SECRET_NAME = re.compile(r"(PASS|PASSWORD|SECRET|TOKEN|_KEY)$|^SECRET")
DEPENDENT_VAR = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
KUSTOMIZATION_KEYS = {
    "apiVersion", "kind", "resources", "namespace", "images", "patches",
    "configMapGenerator", "secretGenerator", "generatorOptions",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


# ------------------------------------------------------------------------------------------------
# A small kustomize
# ------------------------------------------------------------------------------------------------

class Rendered:
    def __init__(self, objects, files, secret_files):
        self.objects = objects
        self.files = files  # every file a kustomization read (or names, for secret files)
        self.secret_files = secret_files  # generator inputs that must be git-ignored, not present

    def of(self, kind):
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind, name):
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) <= 1, f"{kind}/{name} is defined {len(found)} times"
        return found[0] if found else None


def load_yaml_docs(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def strategic_merge(base, patch):
    """Strategic merge as kustomize does it for the fields patched here: maps merge, lists of
    maps that all have a `name` merge by name (containers, env, volumes), other lists replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value) if key in base else value
        return merged
    if (isinstance(base, list) and isinstance(patch, list) and base and patch
            and all(isinstance(i, dict) and "name" in i for i in base + patch)):
        merged = [dict(i) for i in base]
        for item in patch:
            index = next((n for n, b in enumerate(merged) if b["name"] == item["name"]), None)
            if index is None:
                merged.append(item)
            else:
                merged[index] = strategic_merge(merged[index], item)
        return merged
    return patch


def pod_specs(obj):
    """The pod spec of a workload (Deployment, Job), or nothing."""
    if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        yield obj["spec"]["template"]["spec"]


def containers(obj):
    for spec in pod_specs(obj):
        yield from spec.get("initContainers", [])
        yield from spec["containers"]


def split_image(image):
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, None, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = image.rsplit(":", 1)
        return name, tag, None
    return image, None, None


def generate(kind, spec, directory, options, files, secret_files):
    merged_options = {**options, **spec.get("options", {})}
    assert merged_options.get("disableNameSuffixHash"), (
        f"{spec['name']}: this renderer (and the operators' references) need "
        "disableNameSuffixHash: true")
    assert set(spec) <= {"name", "files", "literals", "type", "options"}, spec
    data = {}
    for literal in spec.get("literals", []):
        key, value = literal.split("=", 1)
        data[key] = value
    for entry in spec.get("files", []):
        key, _, source = entry.partition("=")
        if not source:
            key, source = PurePosixPath(entry).name, entry
        path = (directory / source).resolve()
        assert path.is_relative_to(directory.resolve()), f"{entry}: kustomize loads no file outside"
        if kind == "Secret":
            secret_files.append(path)
            data[key] = "<from file>"
        else:
            files.append(path)
            assert path.is_file(), f"{directory}: {entry} does not exist"
            data[key] = path.read_text()
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": spec["name"]}, "data": data}
    if "type" in spec:
        obj["type"] = spec["type"]
    return obj


def render(directory):
    directory = Path(directory)
    kfile = directory / "kustomization.yaml"
    assert kfile.is_file(), f"{directory} has no kustomization.yaml"
    k = yaml.safe_load(kfile.read_text())
    unsupported = set(k) - KUSTOMIZATION_KEYS
    assert not unsupported, f"{kfile}: the test renderer does not implement {unsupported}"
    files, secret_files, objects = [kfile], [], []

    for entry in k.get("resources", []):
        path = (directory / entry).resolve()
        assert path.exists(), f"{kfile}: resource {entry} does not exist"
        if path.is_dir():
            sub = render(path)
            objects += sub.objects
            files += sub.files
            secret_files += sub.secret_files
        else:
            files.append(path)
            objects += load_yaml_docs(path)

    options = k.get("generatorOptions", {})
    for spec in k.get("configMapGenerator", []):
        objects.append(generate("ConfigMap", spec, directory, options, files, secret_files))
    for spec in k.get("secretGenerator", []):
        objects.append(generate("Secret", spec, directory, options, files, secret_files))

    for patch in k.get("patches", []):
        assert set(patch) == {"path"}, f"{kfile}: only `patches: - path:` is implemented"
        path = directory / patch["path"]
        assert path.is_file(), f"{kfile}: patch {patch['path']} does not exist"
        files.append(path.resolve())
        for doc in load_yaml_docs(path):
            key = (doc["kind"], doc["metadata"]["name"])
            index = next((n for n, o in enumerate(objects)
                          if (o["kind"], o["metadata"]["name"]) == key), None)
            assert index is not None, f"{path}: patches {key}, which the base does not define"
            assert doc["apiVersion"] == objects[index]["apiVersion"], path
            objects[index] = strategic_merge(objects[index], doc)

    for image in k.get("images", []):
        assert set(image) <= {"name", "newName", "newTag", "digest"}, image
        for obj in objects:
            for container in containers(obj):
                name, tag, digest = split_image(container["image"])
                if name != image["name"]:
                    continue
                name = image.get("newName", name)
                if "digest" in image:
                    container["image"] = f"{name}@{image['digest']}"
                elif "newTag" in image:
                    container["image"] = f"{name}:{image['newTag']}"
                else:
                    container["image"] = f"{name}:{tag}" if tag else f"{name}@{digest}"

    if "namespace" in k:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = k["namespace"]
    return Rendered(objects, files, secret_files)


RENDER_TARGETS = [BASE, *OVERLAYS]
IDS = [str(p.relative_to(K8S)) for p in RENDER_TARGETS]


@pytest.fixture(scope="module", params=RENDER_TARGETS, ids=IDS)
def rendered(request):
    return render(request.param)


@pytest.fixture(scope="module", params=OVERLAYS, ids=[p.name for p in OVERLAYS])
def overlay(request):
    return render(request.param)


# ------------------------------------------------------------------------------------------------
# Helpers over rendered objects
# ------------------------------------------------------------------------------------------------

def app_workloads(r):
    """(service, component, object) for every Deployment and Job running a clinic image."""
    for obj in r.objects:
        if obj["kind"] not in {"Deployment", "Job"}:
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        if labels.get("app.kubernetes.io/name") in SERVICES:
            yield labels["app.kubernetes.io/name"], labels["app.kubernetes.io/component"], obj


def the_container(obj):
    spec = next(pod_specs(obj))
    assert len(spec["containers"]) == 1, obj["metadata"]["name"]
    return spec["containers"][0]


def resolve_port(container, port):
    """A probe's or Service's named or numeric port as the container's port number."""
    for declared in container.get("ports", []):
        if port in (declared["containerPort"], declared.get("name")):
            return declared["containerPort"]
    return None


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def env_of(r, container):
    """The container's environment: {name: ("value", str) | ("secret"|"configmap", name, key)}."""
    env = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            cm = r.get("ConfigMap", source["configMapRef"]["name"])
            assert cm is not None, f"envFrom ConfigMap {source['configMapRef']['name']} missing"
            for key, value in cm.get("data", {}).items():
                env[key] = ("value", str(value))
        else:
            pytest.fail(f"envFrom {source} is not checked by this test: use configMapRef")
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = ("value", str(item["value"]))
        elif "secretKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = ("secret", ref["name"], ref["key"])
        elif "configMapKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["configMapKeyRef"]
            env[item["name"]] = ("configmap", ref["name"], ref["key"])
        else:
            pytest.fail(f"{item['name']}: unchecked valueFrom {item['valueFrom']}")
    return env


def secret_keys(r):
    keys = {name: set(k) for name, k in EXTERNAL_SECRETS.items()}
    for user in r.of("User"):  # the Messaging Topology Operator writes each user's login
        keys[f"{user['metadata']['name']}-user-credentials"] = {"username", "password"}
    for secret in r.of("Secret"):
        keys[secret["metadata"]["name"]] = set(secret.get("data", {})) | set(
            secret.get("stringData", {}))
    return keys


def secret_references(r):
    """(where, secret name, key or None) for every Secret any object refers to."""
    for obj in r.objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        for container in containers(obj):
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    yield where, ref["name"], ref["key"]
        for spec in pod_specs(obj):
            for volume in spec.get("volumes", []):
                if "secret" in volume:
                    items = volume["secret"].get("items") or [{"key": None}]
                    for item in items:
                        yield where, volume["secret"]["secretName"], item["key"]
        spec = obj.get("spec", {})
        if obj["kind"] == "Ingress":
            for tls in spec.get("tls", []):
                yield where, tls["secretName"], None
        if obj["kind"] == "TriggerAuthentication":
            for ref in spec["secretTargetRef"]:
                yield where, ref["name"], ref["key"]
        if obj["kind"] == "Cluster":
            initdb = spec.get("bootstrap", {}).get("initdb", {})
            if "secret" in initdb:
                yield where, initdb["secret"]["name"], "password"
            for role in spec.get("managed", {}).get("roles", []):
                if "passwordSecret" in role:
                    yield where, role["passwordSecret"]["name"], "password"
        if obj["kind"] == "ObjectStore":
            for ref in spec["configuration"].get("s3Credentials", {}).values():
                yield where, ref["name"], ref["key"]


# ------------------------------------------------------------------------------------------------
# The app's settings, read from the source with ast
# ------------------------------------------------------------------------------------------------

def settings_env_names(path, class_name):
    tree = ast.parse(path.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    names = set()
    for node in cls.body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        if "ClassVar" in ast.unparse(node.annotation):
            continue
        alias = None
        if isinstance(node.value, ast.Call):
            for kw in node.value.keywords:
                if kw.arg == "validation_alias" and isinstance(kw.value, ast.Constant):
                    alias = kw.value.value
        names.add(alias or node.target.id.upper())
    return names


@pytest.fixture(scope="module")
def settings_env():
    shared = settings_env_names(ROOT / "shared" / "clinic_shared" / "settings.py",
                                "ServiceSettings")
    shared.discard("DATABASE_URL")  # each service reads <SVC>_DATABASE_URL instead
    return {svc: shared | settings_env_names(
        ROOT / "services" / svc / svc / "settings.py", f"{svc.capitalize()}Settings")
        for svc in SERVICES}


# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------

def test_there_is_a_base_and_an_example_overlay():
    assert (BASE / "kustomization.yaml").is_file()
    assert K8S / "overlays" / "example" in OVERLAYS


def test_every_manifest_file_is_used_by_a_kustomization():
    used = set()
    secret_files = []
    for target in RENDER_TARGETS:
        r = render(target)
        used |= {Path(f).resolve() for f in r.files}
        secret_files += r.secret_files
    on_disk = {p.resolve() for p in K8S.rglob("*")
               if p.suffix in {".yaml", ".yml", ".json"} and "secrets" not in p.parts
               and "jobs" not in p.parts}  # jobs/: applied by hand (test_staff_create_job.py)
    assert on_disk - used == set(), "files no kustomization reads (typo in a resources list?)"


def test_secret_inputs_are_git_ignored_and_not_committed(overlay):
    assert overlay.secret_files, "the overlay generates no Secret"
    for path in overlay.secret_files:
        ignore = path.parent / ".gitignore"
        assert ignore.is_file(), f"{path.parent} holds secrets but has no .gitignore"
        lines = ignore.read_text().splitlines()
        assert "*" in lines and f"!{path.name}" not in lines, f"{path} would be committed"
        assert (path.parent / "README.md").is_file(), "say which secret files to create"


# ------------------------------------------------------------------------------------------------
# Every object
# ------------------------------------------------------------------------------------------------

def test_every_object_has_the_fields_the_api_server_requires(rendered):
    seen = set()
    for obj in rendered.objects:
        assert {"apiVersion", "kind", "metadata"} <= set(obj), obj
        name = obj["metadata"].get("name")
        assert name and re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name), name
        assert len(name) <= 63 or obj["kind"] in {"ConfigMap", "Secret"}, name
        if obj["kind"] not in {"ConfigMap", "Secret"}:
            assert isinstance(obj.get("spec"), dict), f"{obj['kind']}/{name} has no spec"
        key = (obj["kind"], name)
        assert key not in seen, f"{key} defined twice"
        seen.add(key)


EXPECTED_API_VERSIONS = {
    "Deployment": "apps/v1", "Job": "batch/v1", "Service": "v1", "ConfigMap": "v1",
    "Secret": "v1", "Ingress": "networking.k8s.io/v1", "NetworkPolicy": "networking.k8s.io/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2", "PodDisruptionBudget": "policy/v1",
    "ScaledObject": "keda.sh/v1alpha1", "TriggerAuthentication": "keda.sh/v1alpha1",
    "RabbitmqCluster": "rabbitmq.com/v1beta1", "Cluster": "postgresql.cnpg.io/v1",
    "Database": "postgresql.cnpg.io/v1", "ScheduledBackup": "postgresql.cnpg.io/v1",
    "User": "rabbitmq.com/v1beta1", "Permission": "rabbitmq.com/v1beta1",
    "Policy": "rabbitmq.com/v1beta1", "ObjectStore": "barmancloud.cnpg.io/v1",
    "PodMonitor": "monitoring.coreos.com/v1", "PrometheusRule": "monitoring.coreos.com/v1",
}


def test_only_known_kinds_at_their_current_api_versions(rendered):
    for obj in rendered.objects:
        assert obj["kind"] in EXPECTED_API_VERSIONS, f"unchecked kind {obj['kind']}"
        assert obj["apiVersion"] == EXPECTED_API_VERSIONS[obj["kind"]], obj["metadata"]["name"]


def test_overlay_puts_everything_in_its_namespace(overlay):
    namespaces = {o["metadata"].get("namespace") for o in overlay.objects}
    assert len(namespaces) == 1 and None not in namespaces, namespaces


# ------------------------------------------------------------------------------------------------
# Workloads
# ------------------------------------------------------------------------------------------------

def test_each_service_has_an_api_a_worker_and_a_migration(rendered):
    found = {(svc, comp, obj["kind"]) for svc, comp, obj in app_workloads(rendered)}
    expected = {(svc, comp, kind) for svc in SERVICES
                for comp, kind in [("api", "Deployment"), ("worker", "Deployment"),
                                   ("migrate", "Job")]}
    assert found == expected


def test_commands_run_the_right_role_on_the_right_port(rendered):
    for svc, comp, obj in app_workloads(rendered):
        command = the_container(obj)["command"]
        expected = {
            "api": ["python", "-m", svc, "api", "--host", "0.0.0.0", "--port", str(API_PORTS[svc])],
            "worker": ["python", "-m", svc, "worker"],
            "migrate": ["python", "-m", svc, "migrate"],  # no --seed: no demo data in production
        }[comp]
        assert command == expected, obj["metadata"]["name"]
        assert (ROOT / "services" / svc / svc / "__main__.py").is_file()


def test_deployment_selectors_match_their_pod_labels(rendered):
    for obj in rendered.of("Deployment"):
        selector = obj["spec"]["selector"]["matchLabels"]
        assert selects(selector, obj["spec"]["template"]["metadata"]["labels"])


def test_apis_have_probes_on_the_health_endpoints(rendered):
    for svc, comp, obj in app_workloads(rendered):
        if comp != "api":
            continue
        container = the_container(obj)
        for probe, path in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
            get = container[probe]["httpGet"]
            assert get["path"] == path, (svc, probe)
            assert resolve_port(container, get["port"]) == API_PORTS[svc], (svc, probe)
        if "startupProbe" in container:
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_workers_have_a_liveness_probe_on_their_metrics_port(rendered):
    for svc, comp, obj in app_workloads(rendered):
        if comp != "worker":
            continue
        container = the_container(obj)
        get = container["livenessProbe"]["httpGet"]
        assert resolve_port(container, get["port"]) == METRICS_PORTS[svc], svc
        assert "readinessProbe" not in container or resolve_port(
            container, container["readinessProbe"]["httpGet"]["port"]) == METRICS_PORTS[svc]


def test_every_container_has_requests_and_limits(rendered):
    for obj in rendered.objects:
        for container in containers(obj):
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), (
                    obj["metadata"]["name"], container["name"], bound)
    for cr in rendered.of("RabbitmqCluster") + rendered.of("Cluster"):
        assert {"requests", "limits"} <= set(cr["spec"]["resources"]), cr["metadata"]["name"]


def dockerfile_user():
    match = re.search(r"^USER\s+(\d+):(\d+)\s*$", DOCKERFILE.read_text(), re.M)
    assert match, "the Dockerfile no longer sets a numeric USER"
    return int(match[1]), int(match[2])


def test_every_pod_runs_non_root_with_a_read_only_root_filesystem(rendered):
    uid, gid = dockerfile_user()
    for obj in rendered.objects:
        for spec in pod_specs(obj):
            name = obj["metadata"]["name"]
            pod = spec.get("securityContext", {})
            assert pod.get("runAsNonRoot") is True, name
            assert pod.get("runAsUser", 0) != 0, name
            assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
            assert spec.get("automountServiceAccountToken") is False, name
            for container in spec.get("initContainers", []) + spec["containers"]:
                ctx = container.get("securityContext", {})
                assert ctx.get("readOnlyRootFilesystem") is True, name
                assert ctx.get("allowPrivilegeEscalation") is False, name
                assert ctx.get("capabilities", {}).get("drop") == ["ALL"], name
                assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), (
                    f"{name}: a read-only root needs a writable /tmp")
            tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
            for container in spec.get("initContainers", []) + spec["containers"]:
                tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
                assert tmp["name"] in tmp_volumes, name
    for _, _, obj in app_workloads(rendered):
        pod = next(pod_specs(obj))["securityContext"]
        assert (pod["runAsUser"], pod["runAsGroup"]) == (uid, gid), (
            f"{obj['metadata']['name']}: not the image's user {uid}:{gid}")


def test_every_image_is_pinned(rendered):
    images = [c["image"] for o in rendered.objects for c in containers(o)]
    images += [o["spec"]["image"] for o in rendered.of("RabbitmqCluster")]
    images += [o["spec"]["imageName"] for o in rendered.of("Cluster")]
    assert images
    for image in images:
        _, tag, digest = split_image(image)
        assert digest or (tag and tag != "latest"), f"{image} is not pinned"


def test_overlay_pulls_app_images_from_a_registry_at_one_release(overlay):
    tags = set()
    for svc, _, obj in app_workloads(overlay):
        name, tag, digest = split_image(the_container(obj)["image"])
        assert "/" in name and "." in name.split("/")[0], f"{name}: not from a registry"
        assert name.endswith(svc), name
        tags.add(tag or digest)
    assert len(tags) == 1, f"services at different releases: {tags}"


def test_token_key_is_mounted_from_a_secret_where_the_settings_look(rendered):
    for svc, comp, obj in app_workloads(rendered):
        container = the_container(obj)
        env = env_of(rendered, container)
        spec = next(pod_specs(obj))
        files = ["AUTH_PUBLIC_KEY_FILE"] + (["AUTH_PRIVATE_KEY_FILE"] if svc == "referral" else [])
        if svc != "referral":
            assert "AUTH_PRIVATE_KEY_FILE" not in env, f"{svc} must not get the signing key"
        for var in files:
            kind, path = env[var]
            assert kind == "value"
            directory, filename = str(PurePosixPath(path).parent), PurePosixPath(path).name
            mount = next(m for m in container["volumeMounts"] if m["mountPath"] == directory)
            assert mount.get("readOnly") is True
            volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
            items = volume["secret"]["items"]
            assert filename in {i["path"] for i in items}, (svc, comp, var)
        mounted = {i["key"] for v in spec["volumes"] if "secret" in v
                   for i in v["secret"]["items"]}
        if svc != "referral":
            assert "jwt-private.pem" not in mounted, f"{svc} must not see the signing key"


# ------------------------------------------------------------------------------------------------
# Environment and configuration
# ------------------------------------------------------------------------------------------------

def test_env_var_names_are_settings_the_app_reads(rendered, settings_env):
    for svc, _, obj in app_workloads(rendered):
        container = the_container(obj)
        env = env_of(rendered, container)
        helpers = {m for item in container.get("env", []) if "value" in item
                   for m in DEPENDENT_VAR.findall(str(item["value"]))}
        unknown = set(env) - settings_env[svc] - NON_SETTINGS_ENV - helpers
        assert not unknown, f"{obj['metadata']['name']}: the app reads no {sorted(unknown)}"


def test_apis_believe_forwarded_headers_from_the_ingress_controller_alone(rendered):
    """X-Forwarded-For picks the address the form's limit and the sign-in lockout count: the
    APIs believe it from named networks only (never "*" or everyone), and their port admits the
    ingress controller and Prometheus alone (test_only_the_ingress_controller_...)."""
    for svc, comp, obj in app_workloads(rendered):
        if comp != "api":
            continue
        kind, value = env_of(rendered, the_container(obj))["FORWARDED_ALLOW_IPS"]
        assert kind == "value" and value.strip(), obj["metadata"]["name"]
        for entry in value.split(","):
            network = ipaddress.ip_network(entry.strip())  # "*" or a name fails here
            assert network.prefixlen >= 8 and network.is_private, (svc, entry)


def test_dependent_variables_are_defined_before_use(rendered):
    for obj in rendered.objects:
        for container in containers(obj):
            defined = set()
            for item in container.get("env", []):
                for name in DEPENDENT_VAR.findall(str(item.get("value", ""))):
                    assert name in defined, f"{obj['metadata']['name']}: $({name}) used first"
                defined.add(item["name"])


def test_each_process_gets_production_settings_and_only_its_own_database(rendered):
    for svc, comp, obj in app_workloads(rendered):
        name = obj["metadata"]["name"]
        env = env_of(rendered, the_container(obj))
        assert env["ENVIRONMENT"] == ("value", "production"), name
        for required in ("SECRET_KEY", "AMQP_URL", f"{svc.upper()}_DATABASE_URL",
                         "AUTH_PUBLIC_KEY_FILE", "LOG_FORMAT"):
            assert required in env, f"{name}: {required} missing"
        for other in SERVICES:
            if other != svc:
                assert f"{other.upper()}_DATABASE_URL" not in env, name
        kind, url = env[f"{svc.upper()}_DATABASE_URL"]
        assert kind == "value"
        assert re.fullmatch(
            rf"postgresql\+psycopg://{svc}:\$\([A-Z_]+\)@clinic-db-rw:5432/{svc}(\?.*)?", url), url
        password_var = DEPENDENT_VAR.search(url)[1]
        assert env[password_var] == ("secret", f"{svc}-db", "password"), name
        assert env["SECRET_KEY"][0] == "secret", name
        assert env["AMQP_URL"][0] == "value" and "$(" in env["AMQP_URL"][1], name
        assert env["AMQP_URL"][1].startswith("amqp://"), name
        if comp == "worker":
            assert env["WORKER_METRICS_PORT"] == ("value", str(METRICS_PORTS[svc])), name
        if comp == "api":
            assert env["ROOT_PATH"] == ("value", f"/{svc}"), name


def test_booking_public_url_and_notify_mail_settings(rendered):
    booking = env_of(rendered, the_container(rendered.get("Deployment", "booking-api")))
    assert booking["PUBLIC_URL"][1].startswith("https://")
    assert booking["PUBLIC_URL"][1].endswith("/booking")
    notify = env_of(rendered, the_container(rendered.get("Deployment", "notify-worker")))
    for var in ("SMTP_HOST", "SMTP_PORT", "SMTP_STARTTLS", "MAIL_FROM", "RECEPTION_EMAIL",
                "CLINIC_NAME", "CLINIC_PHONE", "CLINIC_EMAIL", "SMTP_USERNAME", "SMTP_PASSWORD"):
        assert var in notify, var
    assert int(notify["SMTP_PORT"][1]) in {587, 465}
    assert notify["SMTP_PASSWORD"][0] == "secret"


def test_overlay_public_url_matches_the_ingress_host(overlay):
    host = overlay.get("Ingress", "clinic")["spec"]["rules"][0]["host"]
    booking = env_of(overlay, the_container(overlay.get("Deployment", "booking-api")))
    assert booking["PUBLIC_URL"] == ("value", f"https://{host}/booking")


def test_no_secret_in_a_configmap_or_a_literal_value(rendered):
    for cm in rendered.of("ConfigMap"):
        for key in cm.get("data", {}):
            assert not SECRET_NAME.search(key), f"ConfigMap {cm['metadata']['name']}: {key}"
    for obj in rendered.objects:
        for container in containers(obj):
            for item in container.get("env", []):
                if "value" in item:
                    assert not SECRET_NAME.search(item["name"]), item["name"]
                    assert not re.search(r"://[^:/@$]+:[^@$(]+@", str(item["value"])), (
                        f"{item['name']}: a password literal inside a URL")
    for secret in rendered.of("Secret"):  # generated: only a user name may be a literal
        for key, value in secret["data"].items():
            assert value == "<from file>" or key == "username", (secret["metadata"], key)


def test_every_secret_reference_resolves(overlay):
    keys = secret_keys(overlay)
    for where, name, key in secret_references(overlay):
        assert name in keys, f"{where}: Secret {name} is declared nowhere"
        assert key is None or key in keys[name], f"{where}: Secret {name} has no key {key}"


def test_base_refers_only_to_secrets_an_overlay_or_an_operator_makes():
    base = render(BASE)
    assert base.of("Secret") == [], "the base must create no Secret"
    for overlay_dir in OVERLAYS:
        keys = secret_keys(render(overlay_dir))
        for where, name, key in secret_references(base):
            assert name in keys, f"{where}: {overlay_dir.name} does not generate Secret {name}"
            assert key is None or key in keys[name], (where, name, key)


def test_every_configmap_reference_resolves(rendered):
    for obj in rendered.objects:
        for container in containers(obj):
            for source in container.get("envFrom", []):
                assert rendered.get("ConfigMap", source["configMapRef"]["name"]), source
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    cm = rendered.get("ConfigMap", ref["name"])
                    assert cm and ref["key"] in cm["data"], ref
        for spec in pod_specs(obj):
            for volume in spec.get("volumes", []):
                if "configMap" in volume:
                    assert rendered.get("ConfigMap", volume["configMap"]["name"]), volume


# ------------------------------------------------------------------------------------------------
# Services, Ingress, autoscaling
# ------------------------------------------------------------------------------------------------

def pod_templates(r):
    for obj in r.objects:
        for _ in pod_specs(obj):
            yield obj, obj["spec"]["template"]["metadata"]["labels"]


def test_services_select_pods_and_target_declared_ports(rendered):
    for service in rendered.of("Service"):
        selector = service["spec"]["selector"]
        matched = [obj for obj, labels in pod_templates(rendered)
                   if obj["kind"] == "Deployment" and selects(selector, labels)]
        assert len(matched) == 1, f"Service {service['metadata']['name']} selects {len(matched)}"
        container = the_container(matched[0])
        for port in service["spec"]["ports"]:
            assert resolve_port(container, port["targetPort"]) is not None, (
                service["metadata"]["name"], port)


def service_port(r, backend):
    service = r.get("Service", backend["service"]["name"])
    assert service, f"Ingress backend {backend['service']['name']} does not exist"
    wanted = backend["service"]["port"]
    port = next((p for p in service["spec"]["ports"]
                 if wanted.get("name") == p.get("name") or wanted.get("number") == p["port"]),
                None)
    assert port, f"{backend}: no such port"
    pod = next(o for o, labels in pod_templates(r)
               if o["kind"] == "Deployment" and selects(service["spec"]["selector"], labels))
    return pod, resolve_port(the_container(pod), port["targetPort"])


def test_ingress_routes_each_prefix_to_its_api_and_strips_it(rendered):
    ingresses = rendered.of("Ingress")
    assert len(ingresses) == 1
    ingress = ingresses[0]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/rewrite-target"] == "/$2"
    assert annotations["nginx.ingress.kubernetes.io/use-regex"] == "true"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    routes = {}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            pod, port = service_port(rendered, path["backend"])
            routes[path["path"]] = (pod["metadata"]["name"], port)
    assert {name for name, _ in routes.values()} == {f"{svc}-api" for svc in SERVICES}
    for svc in SERVICES:
        # nginx matches these (case-insensitively) as PCRE; Python's re reads this subset alike
        [(path, target)] = [(p, t) for p, t in routes.items() if p.startswith(f"/{svc}(")]
        assert target == (f"{svc}-api", API_PORTS[svc])
        for public, upstream in [(f"/{svc}", "/"), (f"/{svc}/", "/"),
                                 (f"/{svc}/api/x", "/api/x"), (f"/{svc}/readyz", "/readyz")]:
            match = re.fullmatch(path, public, re.I)
            assert match and "/" + match[2] == upstream, (path, public)
    tls_hosts = {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
    assert {rule["host"] for rule in ingress["spec"]["rules"]} <= tls_hosts


def test_apis_autoscale_and_keep_two_replicas(rendered):
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in rendered.of("HorizontalPodAutoscaler")}
    assert set(hpas) == {f"{svc}-api" for svc in SERVICES}
    for name, hpa in hpas.items():
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and rendered.get("Deployment", name)
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert hpa["spec"]["metrics"], name
    broker_pods = {"app.kubernetes.io/name": rendered.of("RabbitmqCluster")[0]["metadata"]["name"]}
    for pdb in rendered.of("PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        if selector == broker_pods:  # the operator's pods: test_broker_survives_...
            continue
        assert any(selects(selector, labels) for _, labels in pod_templates(rendered))


def test_no_replicas_where_an_autoscaler_owns_the_count(rendered):
    """`replicas:` beside an HPA or a ScaledObject resets the scale at every apply."""
    owned = {h["spec"]["scaleTargetRef"]["name"] for h in rendered.of("HorizontalPodAutoscaler")}
    owned |= {so["spec"]["scaleTargetRef"]["name"] for so in rendered.of("ScaledObject")}
    assert owned
    for name in owned:
        deployment = rendered.get("Deployment", name)
        assert deployment and "replicas" not in deployment["spec"], (
            f"Deployment {name} sets replicas although an autoscaler owns the count")


def definitions_queues():
    return {q["name"] for q in json.loads(DEFINITIONS.read_text())["queues"]}


def test_workers_scale_on_the_queues_they_consume(rendered):
    queues = definitions_queues()
    live_queues = {q for q in queues if not q.endswith(".dead-letter")}
    scaled = {}
    for so in rendered.of("ScaledObject"):
        spec = so["spec"]
        target = spec["scaleTargetRef"]["name"]
        deployment = rendered.get("Deployment", target)
        assert deployment, f"ScaledObject {so['metadata']['name']}: no Deployment {target}"
        svc = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        assert target == f"{svc}-worker"
        assert spec["minReplicaCount"] >= 1, "the outbox relay and the clocks must keep running"
        assert spec["maxReplicaCount"] >= spec["minReplicaCount"]
        for trigger in spec["triggers"]:
            assert trigger["type"] == "rabbitmq"
            meta = trigger["metadata"]
            assert meta["queueName"] in queues, f"{meta['queueName']} is not a declared queue"
            assert meta["queueName"].startswith(f"{svc}."), "a worker scales on its own queues"
            assert meta["mode"] in {"QueueLength", "MessageRate"} and float(meta["value"]) > 0
            assert meta.get("protocol", "auto") in {"http", "amqp", "auto"}
            auth = rendered.get("TriggerAuthentication", trigger["authenticationRef"]["name"])
            assert auth, trigger["authenticationRef"]
            assert "host" in {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
            scaled.setdefault(target, set()).add(meta["queueName"])
    assert set(scaled) == {f"{svc}-worker" for svc in SERVICES}
    assert set().union(*scaled.values()) == live_queues, "a consumed queue scales nothing"


# ------------------------------------------------------------------------------------------------
# NetworkPolicies
# ------------------------------------------------------------------------------------------------

def policies_for(r, labels):
    return [p for p in r.of("NetworkPolicy")
            if selects(p["spec"]["podSelector"].get("matchLabels", {}), labels)]


def egress_ports(policies):
    return {(rule_port["port"], json.dumps(rule.get("to", []), sort_keys=True))
            for p in policies for rule in p["spec"].get("egress", [])
            for rule_port in rule.get("ports", [])}


def test_every_pod_is_isolated_both_ways(rendered):
    for obj, labels in pod_templates(rendered):
        policies = policies_for(rendered, labels)
        types = {t for p in policies for t in p["spec"]["policyTypes"]}
        assert {"Ingress", "Egress"} <= types, f"{obj['metadata']['name']} is not isolated"


def test_app_pods_reach_only_dns_their_database_and_the_broker(rendered):
    db = rendered.of("Cluster")[0]["metadata"]["name"]
    broker = rendered.of("RabbitmqCluster")[0]["metadata"]["name"]
    for svc, comp, obj in app_workloads(rendered):
        labels = obj["spec"]["template"]["metadata"]["labels"]
        ports = {}
        for port, to in egress_ports(policies_for(rendered, labels)):
            ports.setdefault(port, []).append(json.loads(to))
        allowed = APP_EGRESS_PORTS | OUTSIDE_PORTS.get((svc, comp), set())
        assert set(ports) <= allowed, f"{obj['metadata']['name']}: egress {set(ports) - allowed}"
        assert {53, 5432, 5672} <= set(ports), obj["metadata"]["name"]
        assert ports[5432] == [[{"podSelector": {"matchLabels": {"cnpg.io/cluster": db}}}]]
        assert ports[5672] == [[{"podSelector": {"matchLabels":
                                                 {"app.kubernetes.io/name": broker}}}]]
    notify_worker = rendered.get("Deployment", "notify-worker")["spec"]["template"]["metadata"]
    mail = {p for p, _ in egress_ports(policies_for(rendered, notify_worker["labels"]))}
    assert {587, 465} <= mail
    booking_worker = rendered.get("Deployment", "booking-worker")["spec"]["template"]["metadata"]
    mailbox = {p for p, _ in egress_ports(policies_for(rendered, booking_worker["labels"]))}
    assert mailbox >= MAILBOX_PORTS  # the inquiries mailbox: IMAP over TLS, and its SMTP


def test_only_the_ingress_controller_and_prometheus_reach_the_apis(rendered):
    for svc, comp, obj in app_workloads(rendered):
        labels = obj["spec"]["template"]["metadata"]["labels"]
        rules = [rule for p in policies_for(rendered, labels)
                 for rule in p["spec"].get("ingress", [])]
        if comp == "migrate":
            assert rules == [], obj["metadata"]["name"]
            continue
        expected_port = API_PORTS[svc] if comp == "api" else METRICS_PORTS[svc]
        namespaces = set()
        for rule in rules:
            assert [p["port"] for p in rule["ports"]] == [expected_port]
            for peer in rule["from"]:
                assert "ipBlock" not in peer
                namespaces.add(peer["namespaceSelector"]["matchLabels"][
                    "kubernetes.io/metadata.name"])
        expected = {"ingress-nginx", "monitoring"} if comp == "api" else {"monitoring"}
        assert namespaces == expected, obj["metadata"]["name"]


# ------------------------------------------------------------------------------------------------
# Broker and database (operators' custom resources)
# ------------------------------------------------------------------------------------------------

def test_apps_wait_for_their_schema_before_serving(rendered):
    """Migrations before code: every API and worker pod starts only once its database is at
    the image's Alembic head (the init container), whatever order `kubectl apply` takes."""
    for svc, comp, obj in app_workloads(rendered):
        if comp == "migrate":
            continue
        spec = next(pod_specs(obj))
        [init] = spec.get("initContainers", [])
        main = the_container(obj)
        assert init["command"][:4] == ["python", "-m", svc, "wait-for-schema"], init["command"]
        assert init["image"] == main["image"], "the schema the new image expects"
        assert env_of(rendered, init)[f"{svc.upper()}_DATABASE_URL"] == env_of(
            rendered, main)[f"{svc.upper()}_DATABASE_URL"]
    source = (ROOT / "shared" / "clinic_shared" / "operators" / "service_cli.py").read_text()
    assert '"wait-for-schema"' in source, "the command the init containers run"


def broker_permissions(r, user):
    [permission] = [p for p in r.of("Permission") if p["spec"]["userReference"]["name"] == user]
    return permission["spec"]["permissions"]


def test_apps_and_keda_use_a_broker_user_each_never_the_administrator(rendered):
    broker = rendered.of("RabbitmqCluster")[0]["metadata"]["name"]
    admin = f"{broker}-default-user"
    for where, name, _ in secret_references(rendered):
        assert name != admin, f"{where} uses the broker's administrator"
    users = {u["metadata"]["name"]: u for u in rendered.of("User")}
    for user in users.values():
        assert user["spec"]["rabbitmqClusterReference"]["name"] == broker
        assert "administrator" not in user["spec"].get("tags", []), user["metadata"]["name"]
    topology = json.loads(DEFINITIONS.read_text())
    queues = {q["name"] for q in topology["queues"]}
    for svc, _, obj in app_workloads(rendered):
        env = env_of(rendered, the_container(obj))
        credentials = f"{svc}-broker-user-credentials"
        assert env["AMQP_USERNAME"] == ("secret", credentials, "username"), svc
        assert env["AMQP_PASSWORD"] == ("secret", credentials, "password"), svc
        assert f"{svc}-broker" in users
        read = re.compile(broker_permissions(rendered, f"{svc}-broker")["read"])
        for queue in queues:  # consumes its own queues, nobody else's
            assert bool(read.fullmatch(queue)) == queue.startswith(f"{svc}."), (svc, queue)
        configure = re.compile(broker_permissions(rendered, f"{svc}-broker")["configure"])
        assert all(configure.fullmatch(q) for q in queues), "workers declare the topology"
    auth = rendered.get("TriggerAuthentication", "clinic-rabbitmq")
    refs = {ref["parameter"]: (ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]}
    # the RabbitMQ scaler's auth parameters (KEDA 2.16+: pkg/scalers/rabbitmq_scaler.go)
    assert set(refs) == {"host", "username", "password"}
    assert refs["username"] == ("keda-broker-user-credentials", "username")
    assert refs["password"] == ("keda-broker-user-credentials", "password")
    assert users["keda-broker"]["spec"]["tags"] == ["monitoring"]
    assert set(broker_permissions(rendered, "keda-broker").values()) == {"^$"}


QUEUE_BEHAVIOUR_ARGUMENTS = {"x-delivery-limit", "x-dead-letter-exchange",
                             "x-dead-letter-routing-key", "x-dead-letter-strategy",
                             "x-overflow", "x-max-length", "x-message-ttl"}


def topology_policies():
    """Topology().policies() as the code defines them, read without importing the app."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("clinic_topology", TOPOLOGY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Topology().policies()


def test_queue_behaviour_is_broker_policies_not_queue_arguments(rendered):
    """A queue argument is fixed at declaration: changing it fails with PRECONDITION_FAILED. A
    policy changes a live queue. The definitions and the Policy objects say the same."""
    definitions = json.loads(DEFINITIONS.read_text())
    for queue in definitions["queues"]:
        fixed = set(queue["arguments"]) & QUEUE_BEHAVIOUR_ARGUMENTS
        assert not fixed, f"{queue['name']}: {fixed} belong in a policy"
    expected = topology_policies()
    assert definitions["policies"] == expected
    live = {q["name"] for q in definitions["queues"] if not q["name"].endswith(".dead-letter")}
    found = {}
    for policy in rendered.of("Policy"):
        spec = policy["spec"]
        assert spec["rabbitmqClusterReference"]["name"] == rendered.of(
            "RabbitmqCluster")[0]["metadata"]["name"]
        found[spec["name"]] = {"vhost": spec["vhost"], "name": spec["name"],
                               "pattern": spec["pattern"], "apply-to": spec["applyTo"],
                               "priority": spec["priority"], "definition": spec["definition"]}
    assert sorted(found.values(), key=lambda p: p["name"]) == sorted(
        expected, key=lambda p: p["name"])
    for queue in live:
        [policy] = [p for p in found.values() if re.fullmatch(p["pattern"], queue)]
        definition = policy["definition"]
        assert definition["delivery-limit"] >= 1
        assert definition["dead-letter-exchange"] and definition[
            "dead-letter-routing-key"] == queue
        assert (definition["dead-letter-strategy"], definition["overflow"]) == (
            "at-least-once", "reject-publish"), "dead-lettering must not lose a message"


def test_broker_survives_a_node_drain_on_a_supported_rabbitmq(rendered):
    broker = rendered.of("RabbitmqCluster")[0]
    name = broker["metadata"]["name"]
    image = broker["spec"]["image"]
    _, tag, _ = split_image(image)
    assert int(tag.split(".")[0]) >= 4, f"{image}: 3.x is out of community support"
    pdbs = [p for p in rendered.of("PodDisruptionBudget")
            if p["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}]
    assert len(pdbs) == 1 and pdbs[0]["spec"].get("maxUnavailable") == 1, (
        "a drain may take one node of three at a time, never the quorum")
    anti = broker["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]
    assert any(term["topologyKey"] == "kubernetes.io/hostname" and term["labelSelector"][
        "matchLabels"] == {"app.kubernetes.io/name": name} for term in anti), (
        "two broker nodes on one machine lose the quorum with it")


def test_metrics_are_scraped_by_podmonitors_and_never_public(rendered):
    monitors = rendered.of("PodMonitor")
    for _, comp, obj in app_workloads(rendered):
        if comp == "migrate":
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        container = the_container(obj)
        scraped = [e for m in monitors if selects(m["spec"]["selector"]["matchLabels"], labels)
                   for e in m["spec"]["podMetricsEndpoints"]
                   if resolve_port(container, e["port"]) is not None]
        assert scraped, f"{obj['metadata']['name']}: no PodMonitor scrapes it"
    broker = rendered.of("RabbitmqCluster")[0]["metadata"]["name"]
    db = rendered.of("Cluster")[0]["metadata"]["name"]
    selectors = [m["spec"]["selector"]["matchLabels"] for m in monitors]
    assert {"app.kubernetes.io/name": broker} in selectors
    assert {"cnpg.io/cluster": db} in selectors
    ingress = rendered.of("Ingress")[0]
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            for svc in SERVICES:
                for public in (f"/{svc}/metrics", f"/{svc}/METRICS", f"/{svc}/metrics/"):
                    assert not re.fullmatch(path["path"], public, re.I), (
                        f"{path['path']} lets {public} out")


# The alerts the operations guide (deploy/README.md, "Metrics and what to watch") lists
ALERTS = {
    "outbox lag": "outbox_oldest_unsent_age_seconds",
    "queue depth": "rabbitmq_detailed_queue_messages_ready",
    "dead letters": "dead_letter_messages",
    "24-hour breaches": "booking_sla_events_raised_total",
    "1-hour breaches": "notify_contact_breaches_total",
    # the Barman Cloud plugin's name (plugin-barman-cloud internal/cnpgi/instance/metrics.go)
    "backup age": "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp",
}


def test_the_operations_guide_alerts_exist(rendered):
    expressions = [rule["expr"] for r in rendered.of("PrometheusRule")
                   for group in r["spec"]["groups"] for rule in group["rules"] if "alert" in rule]
    code = "\n".join(p.read_text() for p in [*(ROOT / "shared").rglob("*.py"),
                                             *(ROOT / "services").rglob("*.py")])
    for what, metric in ALERTS.items():
        assert any(metric in expr for expr in expressions), f"no alert on {what} ({metric})"
        if not metric.startswith(("rabbitmq_", "barman_cloud_")):
            assert metric in code, f"{metric}: no process exports it"


def test_notify_gets_the_clinic_lead_and_its_sms_login(rendered):
    for comp in ("api", "worker"):
        env = env_of(rendered, the_container(rendered.get("Deployment", f"notify-{comp}")))
        assert env["CLINIC_LEAD_EMAIL"][0] == "value" and "@" in env["CLINIC_LEAD_EMAIL"][1]
        assert env["SMS_ACCOUNT_SID"] == ("secret", "notify-sms", "SMS_ACCOUNT_SID")
        assert env["SMS_AUTH_TOKEN"] == ("secret", "notify-sms", "SMS_AUTH_TOKEN")
        assert "SMS_FROM" in env


def test_broker_is_a_three_node_rabbitmq_cluster(rendered):
    clusters = rendered.of("RabbitmqCluster")
    assert len(clusters) == 1
    broker = clusters[0]
    assert broker["spec"]["replicas"] == 3
    assert broker["spec"]["persistence"]["storage"]
    # a pinned patch release of the official image's management variant, RabbitMQ 4
    assert re.fullmatch(r"rabbitmq:4\.\d+\.\d+-management", broker["spec"]["image"])
    assert "load_definitions" not in broker["spec"].get("rabbitmq", {}).get(
        "additionalConfig", ""), "see deploy/rabbitmq/rabbitmq.conf"


def test_amqp_urls_point_at_the_broker_service(rendered):
    broker = rendered.of("RabbitmqCluster")[0]["metadata"]["name"]
    for _, _, obj in app_workloads(rendered):
        url = env_of(rendered, the_container(obj))["AMQP_URL"][1]
        assert re.fullmatch(rf"amqp://\$\(\w+\):\$\(\w+\)@{broker}:5672/%2F", url), url


def test_postgres_is_a_three_instance_cnpg_cluster_with_a_database_per_service(rendered):
    clusters = rendered.of("Cluster")
    assert len(clusters) == 1
    cluster = clusters[0]
    name, spec = cluster["metadata"]["name"], cluster["spec"]
    assert spec["instances"] >= 3
    assert spec["storage"]["size"]
    initdb = spec["bootstrap"]["initdb"]
    databases = {initdb["database"]: initdb["owner"]}
    for db in rendered.of("Database"):
        assert db["spec"]["cluster"]["name"] == name
        assert db["spec"].get("databaseReclaimPolicy") == "retain", "never drop patient data"
        databases[db["spec"]["name"]] = db["spec"]["owner"]
    assert databases == {svc: svc for svc in SERVICES}
    roles = {initdb["owner"]} | {r["name"] for r in spec["managed"]["roles"]
                                 if r.get("ensure", "present") == "present" and r.get("login")}
    assert roles == set(SERVICES)
    hba = spec["postgresql"]["pg_hba"]
    for svc in SERVICES:
        allow, deny = f"host {svc} {svc} all scram-sha-256", f"host all {svc} all reject"
        assert hba.index(allow) < hba.index(deny), f"{svc} may reach other databases"
    assert spec.get("enableSuperuserAccess") is False


BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"


def test_postgres_is_backed_up_by_the_barman_cloud_plugin_from_its_first_day(rendered):
    cluster = rendered.of("Cluster")[0]
    [plugin] = [p for p in cluster["spec"].get("plugins", []) if p["name"] == BARMAN_PLUGIN]
    assert plugin["isWALArchiver"] is True, "WAL archiving gives point-in-time recovery"
    store = rendered.get("ObjectStore", plugin["parameters"]["barmanObjectName"])
    assert store, "the plugin's ObjectStore does not exist"
    assert re.match(r"(s3|gs|https)://", store["spec"]["configuration"]["destinationPath"])
    assert store["spec"]["retentionPolicy"]
    schedules = rendered.of("ScheduledBackup")
    assert schedules and all(s["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
                             for s in schedules)
    for s in schedules:
        assert len(s["spec"]["schedule"].split()) == 6, "CNPG cron has a seconds field"
        assert s["spec"]["method"] == "plugin"
        assert s["spec"]["pluginConfiguration"]["name"] == BARMAN_PLUGIN
    assert any(s["spec"].get("immediate") is True for s in schedules), (
        "no base backup until the first night: the cluster is unrecoverable until then")


# Fields the operators deprecated: (kind, path in spec, why)
DEPRECATED_FIELDS = [
    ("Cluster", ("backup", "barmanObjectStore"),
     "CloudNativePG's built-in object store backup, removed in 1.31: use the Barman Cloud "
     "plugin's ObjectStore"),
    ("Cluster", ("monitoring", "enablePodMonitor"),
     "deprecated by CloudNativePG: declare the PodMonitor yourself"),
    ("Cluster", ("externalClusters", "barmanObjectStore"), "use the plugin's ObjectStore"),
    ("ScheduledBackup", ("method", "barmanObjectStore"), "use method: plugin"),
]


def has_field(value, path):
    if not path:
        return True
    if isinstance(value, list):
        return any(has_field(item, path) for item in value)
    if isinstance(value, dict):
        head = path[0]
        return head in value and has_field(value[head], path[1:])
    return value == path[0] if len(path) == 1 else False


def test_no_deprecated_operator_fields(rendered):
    for kind, path, why in DEPRECATED_FIELDS:
        for obj in rendered.of(kind):
            assert not has_field(obj["spec"], path), (
                f"{kind}/{obj['metadata']['name']}: spec.{'.'.join(path)}: {why}")


def test_overlay_sets_a_real_backup_bucket(overlay):
    path = overlay.of("ObjectStore")[0]["spec"]["configuration"]["destinationPath"]
    assert "CHANGE-ME" not in path


def test_overlay_host_is_not_the_placeholder(overlay):
    hosts = {rule["host"] for rule in overlay.get("Ingress", "clinic")["spec"]["rules"]}
    assert "clinic.example.org" not in hosts
    notify = overlay.get("ConfigMap", "notify-config")["data"]
    assert notify["SMTP_HOST"] != "smtp.example.org"


CORE_KINDS = {"Deployment", "Job", "Service", "ConfigMap", "Secret", "Ingress", "NetworkPolicy",
              "HorizontalPodAutoscaler", "PodDisruptionBudget"}


def test_core_objects_match_the_kubernetes_schemas(rendered):
    import kubernetes_validate

    for obj in rendered.objects:
        if obj["kind"] in CORE_KINDS:
            if obj["kind"] == "Secret":
                obj = {**obj, "data": dict.fromkeys(obj.get("data", {}), "eA==")}
            kubernetes_validate.validate(obj, "1.30", strict=True)


def test_the_inquiries_mailbox_login_reaches_booking_worker_alone(rendered):
    """The mailbox's app password is a Secret read by booking's worker only (optional, so a
    clinic without a mailbox still deploys); its host and ports are plain settings."""
    config = next(c for c in rendered.of("ConfigMap") if c["metadata"]["name"] == "booking-config")
    assert {"INQUIRIES_IMAP_HOST", "INQUIRIES_SMTP_HOST"} <= set(config["data"])
    for svc, comp, obj in app_workloads(rendered):
        for container in containers(obj):
            refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", [])
                    if "secretKeyRef" in e.get("valueFrom", {})}
            has_login = "INQUIRIES_IMAP_PASSWORD" in refs
            is_worker_main = ((svc, comp) == ("booking", "worker")
                              and container["name"] not in ("wait-for-schema",))
            assert has_login == is_worker_main, (obj["metadata"]["name"], container["name"])
            if has_login:
                assert refs["INQUIRIES_IMAP_PASSWORD"]["name"] == "booking-inquiries"
                assert refs["INQUIRIES_IMAP_PASSWORD"].get("optional") is True
