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

from tests.support.compose import runtime_user_and_folders

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
RABBITMQ_DIR = ROOT / "deploy" / "rabbitmq"

API_PORTS = {"booking": 8001, "referral": 8002, "notify": 8003}
WORKER_METRICS_PORTS = {"booking": 9101, "referral": 9102, "notify": 9103}
FRONT_DOOR = "front-door"
FRONT_DOOR_PORTS = [80, 443]
KEYS = "keys"
DEMO_DATA = {"booking-demo", "referral-demo"}
ONE_SHOT_JOBS = ({f"{name}-migrate" for name in API_PORTS} | {"rabbitmq-definitions", KEYS}
                 | DEMO_DATA)
INFRASTRUCTURE = {"postgres", "rabbitmq", "rabbitmq-definitions", "mailpit", FRONT_DOOR, KEYS}
KEY_VOLUMES = {"jwt-private", "jwt-public"}

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


def service_processes(services):
    """App services that run one of a service's own roles (`python -m <service> <role>`)."""
    return {name: arg for name, arg in app_services(services).items() if name != KEYS}


def named_volume_mounts(service):
    """{volume name: (target, read_only)} of the service's named-volume mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *options = volume.split(":")
            if not source.startswith((".", "/")):
                mounts[source] = (target, "ro" in options)
        elif volume.get("type") == "volume":
            mounts[volume["source"]] = (volume["target"], bool(volume.get("read_only")))
    return mounts


def profiles(service):
    return set(service.get("profiles", []))


# --- shape ---------------------------------------------------------------------------------


def test_the_expected_services_are_defined(services):
    expected = set(INFRASTRUCTURE) | DEMO_DATA
    for name in API_PORTS:
        expected |= {f"{name}-migrate", f"{name}-api", f"{name}-worker"}
    assert set(services) == expected


def test_every_app_service_is_built_for_the_service_it_runs(services):
    apps = service_processes(services)
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
    for name, service_arg in service_processes(services).items():
        command = services[name]["command"]
        assert command[:2] == ["python", "-m"], name
        module, role = command[2], command[3]
        assert module == service_arg, f"{name} runs {module} in the {service_arg} image"
        assert (ROOT / "services" / module / module / "__main__.py").is_file(), (
            f"{name}: services/{module}/{module}/__main__.py does not exist"
        )
        expected_role = {"demo": "seed"}.get(name.rsplit("-", 1)[1], name.rsplit("-", 1)[1])
        assert role == expected_role, f"{name} runs role {role}"


def test_demo_data_only_under_the_demo_profile(services):
    """Demo patients (with surgery details) go through the real acknowledgement and SLA flows:
    a clinic's own `docker compose up` must never make them, nor demo staff accounts."""
    for name, service in services.items():
        command = " ".join(strings(service.get("command", [])))
        seeds = "--seed" in command or re.search(r"-m \S+ seed\b", command)
        demo_accounts = "SEED_STAFF_PASSWORD" in environment(service)
        if seeds or demo_accounts:
            assert profiles(service) == {"demo"}, f"{name} makes demo data outside the profile"
        if profiles(service):
            assert profiles(service) == {"demo"} and name in DEMO_DATA, name
    assert {services[name]["command"][3] for name in DEMO_DATA} == {"seed"}
    for name in DEMO_DATA:  # nothing a clinic runs may wait for what only a demo starts
        for other, service in services.items():
            assert name not in depends_on(service), f"{other} depends on {name}"


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
    assert sorted(published[FRONT_DOOR]) == [("", port) for port in FRONT_DOOR_PORTS]
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


OUTSIDE_SETTINGS = {  # every address or account outside the server, and its safe default
    "SMTP_HOST": "mailpit", "SMTP_PORT": "1025", "SMTP_STARTTLS": "false",
    "SMTP_USERNAME": "", "SMTP_PASSWORD": "", "MAIL_FROM": None, "RECEPTION_EMAIL": None,
    "CLINIC_LEAD_EMAIL": None, "SMS_BASE_URL": None, "SMS_ACCOUNT_SID": "",
    "SMS_AUTH_TOKEN": "", "SMS_FROM": "",
}


@pytest.mark.parametrize("role", ["api", "worker"])
def test_every_outside_setting_comes_from_env_with_a_safe_default(services, role):
    """Real mail, texts and the clinic lead's address are set in .env, never by editing the
    compose file; unset, mail stays in the Mailpit catcher and no text is sent."""
    env = environment(services[f"notify-{role}"])
    documented = env_example_values()
    for name, safe in OUTSIDE_SETTINGS.items():
        reference = re.fullmatch(rf"\$\{{{name}:-(?P<default>[^}}]*)\}}", str(env.get(name)))
        assert reference, f"notify-{role}: {name} must come from .env, is {env.get(name)!r}"
        if safe is not None:
            assert reference["default"] == safe, f"{name} defaults to {reference['default']!r}"
            assert documented.get(name) == safe, f".env.example: {name}={documented.get(name)!r}"
        else:
            assert reference["default"] == documented.get(name), name


def test_no_default_password_outside_development(compose):
    """A secret is never given a default: `${X:-value}` would put a known password in
    production when .env forgets it."""
    text = COMPOSE_FILE.read_text()
    for name, default in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^}]*)\}", text):
        if SECRET_NAME.search(name):
            assert default == "", f"{name} has the default {default!r}"


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


def test_front_door_serves_https_so_secure_cookies_work(services):
    """Production sets Secure on staff cookies: a plain-HTTP front door would let no one sign
    in except on localhost. Caddy's automatic HTTPS names the site by CLINIC_HOST."""
    text = CADDYFILE.read_text()
    active = "\n".join(line for line in text.splitlines() if not line.strip().startswith("#"))
    assert "auto_https" not in active, "automatic HTTPS must stay on"
    assert re.search(r"^\{\$CLINIC_HOST:localhost\}\s*\{", active, re.MULTILINE)
    plain = re.findall(r"^(http://\S*|:\d+)\s*\{", active, re.MULTILINE)
    assert plain == ["http://:8080"], f"plain-HTTP sites: {plain}"
    assert caddy_blocks(active, "http://:8080")[0].split() == [
        "respond", "/healthz", '"ok"', "200", "respond", "404"], "8080 is for the healthcheck"
    door = services[FRONT_DOOR]
    assert environment(door)["CLINIC_HOST"] == "${CLINIC_HOST:-localhost}"
    assert "caddy-data" in named_volume_mounts(door), "certificates and the local CA are kept"
    assert "http://127.0.0.1:8080/healthz" in " ".join(door["healthcheck"]["test"])
    for name in ("booking", "notify"):
        for role in ("api", "worker"):
            url = environment(services[f"{name}-{role}"])["PUBLIC_URL"]
            assert url == "https://${CLINIC_HOST:-localhost}/booking", f"{name}-{role}: {url}"


@pytest.mark.parametrize("name", sorted(API_PORTS))
def test_front_door_routes_each_prefix_to_its_api(services, name):
    text = CADDYFILE.read_text()
    assert caddy_blocks(text, "{$CLINIC_HOST:localhost}") == ["\n\timport clinic_routes\n"]
    blocks = caddy_blocks(caddy_blocks(text, "(clinic_routes)")[0], f"handle /{name}/*")
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
    for name in service_processes(services):
        service = services[name]
        mounts = named_volume_mounts(service)
        target, read_only = mounts["jwt-public"]
        assert read_only, name
        assert environment(service)["AUTH_PUBLIC_KEY_FILE"] == f"{target}/jwt-public.pem"
        signs = name.startswith("referral-")
        assert ("jwt-private" in mounts) is signs, name
        if signs:
            target, read_only = mounts["jwt-private"]
            assert read_only, name
            assert environment(service)["AUTH_PRIVATE_KEY_FILE"] == f"{target}/jwt-private.pem"
        assert depends_on(service).get(KEYS) == "service_completed_successfully", name


def test_the_key_pair_is_made_by_the_user_who_reads_it(compose, services):
    """Compose file secrets are bind mounts: a key made on the host keeps the host user's owner
    and mode 0600, and the services (uid 10001) cannot read it. The pair is made inside a
    one-shot container, as the image's user, in named volumes whose folders the image gives
    that user (an empty volume takes its folder's owner and mode from the image)."""
    assert not compose.get("secrets"), "no key may come from a host file (a bind mount)"
    for name, service in services.items():
        assert not service.get("secrets"), name
        assert not any("keys" in source for source in bind_sources(service)), name
    uid, folders = runtime_user_and_folders()
    job = services[KEYS]
    assert is_one_shot(job)
    assert str(job.get("user", uid)).split(":")[0] == str(uid), "keys must run as the image's user"
    mounts = named_volume_mounts(job)
    assert set(mounts) == KEY_VOLUMES and not any(ro for _, ro in mounts.values())
    command = job["command"]
    assert command[:2] == ["clinic", "keys"]
    assert command[command.index("--dir") + 1] == mounts["jwt-private"][0]
    assert command[command.index("--public-dir") + 1] == mounts["jwt-public"][0]
    for volume, (target, _) in mounts.items():
        assert volume in (compose.get("volumes") or {}), volume
        assert folders.get(target, (None,))[0] == uid, (
            f"the image does not give {target} to uid {uid}: {volume} would be root's")
    assert folders[mounts["jwt-private"][0]][1] & 0o077 == 0, "the private key's folder is open"
    for name, service in services.items():  # every reader is that user too
        if KEY_VOLUMES & set(named_volume_mounts(service)) and name != KEYS:
            assert str(service.get("user", uid)).split(":")[0] == str(uid), name


def test_the_inquiries_mailbox_is_set_on_booking_worker_alone(services):
    """booking's worker reads the inquiries mailbox when .env names it; no other container holds
    its password, and every INQUIRIES_* variable is a setting booking knows."""
    from booking.settings import BookingSettings

    fields = {name.upper() for name in BookingSettings.model_fields}
    worker = services["booking-worker"]["environment"]
    mailbox = {name for name in worker if name.startswith("INQUIRIES_")}
    assert {"INQUIRIES_IMAP_HOST", "INQUIRIES_IMAP_USER", "INQUIRIES_IMAP_PASSWORD",
            "INQUIRIES_SMTP_HOST", "INQUIRIES_ADDRESS"} <= mailbox
    assert mailbox <= fields
    assert worker["INQUIRIES_IMAP_HOST"] == "${INQUIRIES_IMAP_HOST:-}"  # unset: not read
    for name, service in services.items():
        if name != "booking-worker":
            assert "INQUIRIES_IMAP_PASSWORD" not in (service.get("environment") or {}), name
