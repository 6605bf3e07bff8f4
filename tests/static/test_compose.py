"""Static checks of docker-compose.yml and every file it points at.

No Docker, PostgreSQL or RabbitMQ is needed: the file is read with PyYAML (which resolves the
`<<: *anchor` merges the same way Compose does) and cross-checked against the repository.
"""

import ipaddress
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
RABBITMQ_DIR = ROOT / "deploy" / "rabbitmq"

API_PORTS = {"booking": 8001, "referral": 8002, "notify": 8003}
WORKER_METRICS_PORTS = {"booking": 9101, "referral": 9102, "notify": 9103}
FRONT_DOOR = "front-door"
FRONT_DOOR_PORT = 8080
ONE_SHOT_JOBS = {f"{name}-migrate" for name in API_PORTS} | {"rabbitmq-definitions"}
INFRASTRUCTURE = {"postgres", "rabbitmq", "rabbitmq-definitions", "mailpit", FRONT_DOOR}

SECRET_NAME = re.compile(r"(PASS|PASSWORD|SECRET|TOKEN|_KEY)$|^SECRET")
WHOLE_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$")
ANY_REFERENCE = re.compile(r"\$\{[^}]*\}")
URL_CREDENTIALS = re.compile(r"://(?P<user>[^:/@\s]+):(?P<password>[^@\s]+)@")
VARIABLE_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
BARE_DOLLAR = re.compile(r"(?<!\$)\$(?![{$])")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def depends_on(service):
    """depends_on as {name: condition}, whichever syntax the service uses."""
    value = service.get("depends_on", {})
    if isinstance(value, list):
        return dict.fromkeys(value, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in value.items()}


def is_one_shot(service):
    return service.get("restart") == "no"


def environment(service):
    value = service.get("environment", {})
    if isinstance(value, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in value)
    return value


def bind_sources(service):
    """Host paths of the service's bind mounts (short and long volume syntax)."""
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                yield source
        elif volume.get("type") == "bind":
            yield volume["source"]


def host_ports(service):
    """(host_ip, host_port) for each published port."""
    for port in service.get("ports", []):
        if isinstance(port, dict):
            if port.get("published") is not None:
                yield port.get("host_ip", ""), int(port["published"])
            continue
        parts = str(port).split("/", 1)[0].split(":")
        if len(parts) == 3:
            yield parts[0], int(parts[1])
        elif len(parts) == 2:
            yield "", int(parts[0])


def strings(node):
    """Every string value anywhere in a YAML tree."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def env_example_values():
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def app_services(services):
    """Services whose image is built from deploy/docker/Dockerfile, with their SERVICE arg."""
    return {
        name: service["build"]["args"]["SERVICE"]
        for name, service in services.items()
        if isinstance(service.get("build"), dict)
    }


# --- shape ---------------------------------------------------------------------------------


def test_the_expected_services_are_defined(services):
    expected = set(INFRASTRUCTURE)
    for name in API_PORTS:
        expected |= {f"{name}-migrate", f"{name}-api", f"{name}-worker"}
    assert set(services) == expected


def test_every_app_service_is_built_for_the_service_it_runs(services):
    apps = app_services(services)
    assert set(apps) == {n for n in services if n.split("-")[0] in API_PORTS}
    for name, service_arg in apps.items():
        assert name.split("-")[0] == service_arg, f"{name} builds SERVICE={service_arg}"
        assert services[name]["image"].startswith(f"clinic-{service_arg}:"), name


# --- start order -----------------------------------------------------------------------------


def test_depends_on_only_names_existing_services(services):
    for name, service in services.items():
        missing = set(depends_on(service)) - set(services)
        assert not missing, f"{name} depends on undefined {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(API_PORTS))
@pytest.mark.parametrize("role", ["api", "worker"])
def test_api_and_worker_wait_for_migration_and_infrastructure(services, name, role):
    deps = depends_on(services[f"{name}-{role}"])
    assert deps.get(f"{name}-migrate") == "service_completed_successfully"
    assert deps.get("postgres") == "service_healthy"
    assert deps.get("rabbitmq") == "service_healthy"
    assert deps.get("rabbitmq-definitions") == "service_completed_successfully"


@pytest.mark.parametrize("name", sorted(API_PORTS))
def test_migration_waits_for_a_healthy_postgres(services, name):
    assert depends_on(services[f"{name}-migrate"]).get("postgres") == "service_healthy"


def test_definitions_job_waits_for_a_healthy_broker(services):
    assert depends_on(services["rabbitmq-definitions"]).get("rabbitmq") == "service_healthy"


def test_conditions_match_what_the_dependency_can_report(services):
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
            target = services[dependency]
            if condition == "service_healthy":
                assert not is_one_shot(target), f"{name}: {dependency} is a one-shot job"
                assert "test" in target.get("healthcheck", {}), (
                    f"{name} waits for {dependency} to be healthy, but it has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert is_one_shot(target), f"{name} waits for long-running {dependency} to exit"


# --- health and lifecycle --------------------------------------------------------------------


def test_only_the_known_jobs_are_one_shot(services):
    assert {name for name, service in services.items() if is_one_shot(service)} == ONE_SHOT_JOBS


def test_every_long_running_service_has_a_healthcheck_and_restarts(services):
    for name, service in services.items():
        if is_one_shot(service):
            continue
        healthcheck = service.get("healthcheck", {})
        assert healthcheck.get("test") and not healthcheck.get("disable"), name
        assert service.get("restart") in {"always", "unless-stopped"}, name


@pytest.mark.parametrize("name", sorted(API_PORTS))
def test_ports_agree_between_command_healthcheck_and_settings(services, name):
    api = services[f"{name}-api"]
    port = API_PORTS[name]
    assert api["command"][-2:] == ["--port", str(port)]
    assert "--host" in api["command"] and "0.0.0.0" in api["command"]
    assert f"127.0.0.1:{port}/healthz" in " ".join(api["healthcheck"]["test"])

    worker = services[f"{name}-worker"]
    metrics_port = WORKER_METRICS_PORTS[name]
    assert str(environment(worker)["WORKER_METRICS_PORT"]) == str(metrics_port)
    assert f"127.0.0.1:{metrics_port}/" in " ".join(worker["healthcheck"]["test"])


def test_commands_run_service_packages_that_exist(services):
    for name, service_arg in app_services(services).items():
        command = services[name]["command"]
        assert command[:2] == ["python", "-m"], name
        module, role = command[2], command[3]
        assert module == service_arg, f"{name} runs {module} in the {service_arg} image"
        assert (ROOT / "services" / module / module / "__main__.py").is_file(), (
            f"{name}: services/{module}/{module}/__main__.py does not exist"
        )
        expected_role = name.rsplit("-", 1)[1]
        assert role == expected_role, f"{name} runs role {role}"
        if role == "migrate":
            assert "--seed" in command


# --- files, ports, volumes -------------------------------------------------------------------


def test_bind_mounts_and_build_inputs_exist_in_the_repo(services):
    for name, service in services.items():
        for source in bind_sources(service):
            path = (ROOT / source).resolve()
            hint = ""
            if path.name == "definitions.json":
                hint = " (generate it: make definitions)"
            assert path.exists(), f"{name} mounts {source}, which does not exist{hint}"
        build = service.get("build")
        if isinstance(build, dict):
            context = ROOT / build.get("context", ".")
            assert context.is_dir(), name
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name


def test_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
            is_named = (isinstance(volume, str) and not source.startswith((".", "/"))) or (
                isinstance(volume, dict) and volume.get("type") == "volume"
            )
            if is_named:
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_published_ports(services):
    published = {name: list(host_ports(service)) for name, service in services.items()}
    all_ports = [port for ports in published.values() for _, port in ports]
    assert len(all_ports) == len(set(all_ports)), f"a host port is published twice: {published}"

    # The front door is the only way in; the APIs publish nothing so they can be scaled.
    assert published[FRONT_DOOR] == [("", FRONT_DOOR_PORT)]
    for name in API_PORTS:
        for role in ("api", "worker", "migrate"):
            assert published[f"{name}-{role}"] == [], f"{name}-{role} publishes a host port"
    # Operator UIs are reachable from the server itself only.
    for name, ports in published.items():
        if name != FRONT_DOOR:
            assert all(ip == "127.0.0.1" for ip, _ in ports), f"{name} listens beyond loopback"


# --- environment and secrets -----------------------------------------------------------------


def test_every_variable_used_is_documented_in_env_example():
    text = COMPOSE_FILE.read_text()
    used = set(VARIABLE_REFERENCE.findall(text))
    documented = set(env_example_values())
    assert used, "compose should take its secrets from .env"
    assert not used - documented, f"missing from .env.example: {sorted(used - documented)}"
    assert not BARE_DOLLAR.search(text), "use ${VAR} (or $$ to escape), never a bare $VAR"


def test_env_example_holds_no_real_secret():
    for name, value in env_example_values().items():
        if SECRET_NAME.search(name):
            assert value == "", f".env.example must leave {name} empty"


def test_no_secret_literal_in_compose(compose):
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key) and value:
                assert WHOLE_REFERENCE.match(str(value)), f"{name}: {key} is a literal"
    for value in strings(compose):
        # Replace each ${...} (whose :? message may hold spaces or colons) by a marker first.
        for match in URL_CREDENTIALS.finditer(ANY_REFERENCE.sub("${REF}", value)):
            assert match["password"] == "${REF}", f"password literal in {value!r}"
        assert not re.search(r"--password=(?!\"?\$\$)", value), "rabbitmqadmin password literal"


@pytest.mark.parametrize("name", sorted(API_PORTS))
def test_each_service_gets_production_settings_and_only_its_own_database(services, name):
    for role in ("migrate", "api", "worker"):
        env = environment(services[f"{name}-{role}"])
        assert env["ENVIRONMENT"] == "production"
        assert env["SECRET_KEY"].startswith("${SECRET_KEY")
        assert env["AMQP_URL"].endswith("@rabbitmq:5672/%2F")
        assert env["LOG_FORMAT"] in {"json", "${LOG_FORMAT:-json}"}
        database_urls = {key for key in env if key.endswith("_DATABASE_URL")}
        assert database_urls == {f"{name.upper()}_DATABASE_URL"}, f"{name}-{role}"
        url = env[f"{name.upper()}_DATABASE_URL"]
        assert url.startswith(f"postgresql+psycopg://{name}:")
        assert url.endswith(f"@postgres:5432/{name}")


def test_notify_mails_the_catcher_without_tls(services):
    for role in ("api", "worker"):
        env = environment(services[f"notify-{role}"])
        assert env["SMTP_HOST"] == "mailpit"
        assert str(env["SMTP_PORT"]) == "1025"
        assert str(env["SMTP_STARTTLS"]).lower() == "false"
        assert {"MAIL_FROM", "RECEPTION_EMAIL", "SMTP_USERNAME", "SMTP_PASSWORD"} <= set(env)


# --- PostgreSQL and RabbitMQ provisioning ----------------------------------------------------


def test_postgres_init_script_creates_the_three_databases(services):
    mounts = [v for v in services["postgres"]["volumes"] if isinstance(v, str)]
    init = [v for v in mounts if v.split(":")[1] == "/docker-entrypoint-initdb.d"]
    assert init, "postgres does not mount an init directory"
    scripts = sorted((ROOT / init[0].split(":")[0]).glob("*.s[qh]*"))
    assert scripts, "no init script"
    text = "\n".join(script.read_text() for script in scripts)
    for name in API_PORTS:
        assert re.search(rf"\b{name}\b", text), f"init script does not create {name}"
    for script in scripts:
        if script.suffix == ".sh":
            assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
    env = environment(services["postgres"])
    for name in API_PORTS:
        assert f"{name.upper()}_DB_PASSWORD" in env


def test_rabbitmq_keeps_its_default_user_and_gets_the_definitions_after_boot(services):
    conf = (RABBITMQ_DIR / "rabbitmq.conf").read_text()
    active = [line for line in conf.splitlines() if line.strip() and not line.startswith("#")]
    # load_definitions at boot would stop the broker from seeding RABBITMQ_DEFAULT_USER.
    assert not any(line.strip().startswith("load_definitions") for line in active)
    assert "rabbitmq_management" in (RABBITMQ_DIR / "enabled_plugins").read_text()

    broker = services["rabbitmq"]
    assert {"RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"} <= set(environment(broker))
    assert broker.get("hostname") == "rabbitmq", "node name must not change between restarts"

    job = services["rabbitmq-definitions"]
    assert any(source.endswith("deploy/rabbitmq/definitions.json") for source in bind_sources(job))
    assert "import /etc/rabbitmq/definitions.json" in " ".join(strings(job["command"]))


def test_generated_definitions_carry_no_credentials():
    path = RABBITMQ_DIR / "definitions.json"
    if not path.exists():
        pytest.skip("deploy/rabbitmq/definitions.json not generated yet")
    definitions = json.loads(path.read_text())
    assert not definitions.get("users"), "users belong to .env, not to the definitions file"
    assert not definitions.get("permissions")


# --- front door ------------------------------------------------------------------------------


def caddy_blocks(text, opener):
    """Bodies of `opener { ... }` blocks (brace-matched) in a Caddyfile."""
    bodies = []
    for match in re.finditer(re.escape(opener) + r"\s*\{", text):
        depth, start = 1, match.end()
        for index in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                bodies.append(text[start:index])
                break
    return bodies


def test_front_door_mounts_its_caddyfile(services):
    door = services[FRONT_DOOR]
    assert door["image"].startswith("caddy:")
    assert any(source.endswith("deploy/caddy/Caddyfile") for source in bind_sources(door))


@pytest.mark.parametrize("name", sorted(API_PORTS))
def test_front_door_routes_each_prefix_to_its_api(services, name):
    text = CADDYFILE.read_text()
    assert re.search(rf"^:{FRONT_DOOR_PORT}\s*\{{", text, re.MULTILINE)
    blocks = caddy_blocks(text, f"handle /{name}/*")
    assert len(blocks) == 1, f"expected one `handle /{name}/*` block"
    body = blocks[0]
    assert f"uri strip_prefix /{name}" in body
    upstream = re.search(r"dynamic a (\S+) (\d+)|reverse_proxy (\S+):(\d+)", body)
    assert upstream, f"/{name}/* is not proxied"
    host = upstream.group(1) or upstream.group(3)
    port = int(upstream.group(2) or upstream.group(4))
    assert (host, port) == (f"{name}-api", API_PORTS[name])
    assert host in services
    assert f"handle /{name}/metrics" in text, "metrics must not leak through the front door"


def test_apis_believe_forwarded_headers_from_the_front_door_alone(compose, services):
    """X-Forwarded-For picks the address the form's limit and the sign-in lockout count: only
    the front door may set it, at an address no other container can be given."""
    [subnet] = compose["networks"]["default"]["ipam"]["config"]
    network = ipaddress.ip_network(subnet["subnet"])
    handed_out = ipaddress.ip_network(subnet["ip_range"])
    door = ipaddress.ip_address(services[FRONT_DOOR]["networks"]["default"]["ipv4_address"])
    assert door in network and door not in handed_out and handed_out.subnet_of(network)
    for name, service in services.items():
        if name in {f"{api}-api" for api in API_PORTS}:
            assert environment(service)["FORWARDED_ALLOW_IPS"] == str(door), name
        else:
            assert "FORWARDED_ALLOW_IPS" not in environment(service), name


def test_every_app_service_gets_the_key_to_verify_staff_tokens(services):
    for name in app_services(services):
        service = services[name]
        assert "jwt_public_key" in service.get("secrets", []), name
        assert environment(service)["AUTH_PUBLIC_KEY_FILE"] == "/run/secrets/jwt_public_key"
        signs = name.startswith("referral-")
        assert ("jwt_private_key" in service.get("secrets", [])) is signs, name


def test_declared_secrets_point_at_the_git_ignored_key_folder(compose):
    gitignore = (ROOT / ".gitignore").read_text().split()
    assert "var/" in gitignore
    for name, secret in compose["secrets"].items():
        assert secret["file"].startswith("./var/keys/"), name
