"""The docker-compose stack, proven statically: there is no Docker engine where the tests run.

What each test guards and why:

- the file is valid Compose (the specification's own JSON schema, vendored);
- nothing is published beyond this machine (every port bound to 127.0.0.1);
- every variable the file uses is documented in .env.example, and nothing there is dead;
- no secret in .env.example works, and the entrypoint refuses the example values (run for real
  with ``sh``);
- every service is health-checked or is a one-shot job, start order waits on conditions, state
  lives in named volumes;
- the commands match the code: the env vars our code reads are set, the MLflow, Prefect and
  ``mlops`` commands and options exist, telemetry is off;
- the Dockerfile builds from the lock, runs as non-root and copies files that exist.

The vendored schema is tests/data/compose-spec.json: compose-spec/compose-spec, path
schema/compose-spec.json at commit b2835e8acc1e42e7aecbc27a9bc4a1fc66ef21ba (32,993 characters,
unchanged; tests/data/compose-spec.SOURCE says the same).
"""

from __future__ import annotations

import configparser
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.compose import compose, interpolate, interpolate_tree, references

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DOCKER_DIR = ROOT / "docker"
REQUIRE_ENV = DOCKER_DIR / "require-env.sh"
SCHEMA = Path(__file__).resolve().parents[1] / "data" / "compose-spec.json"

PLACEHOLDER = "change-me"
# A variable whose name says it is a credential must never have a usable example value.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|AUTH_STRING|KEY")
# The exit code of docker/require-env.sh when it refuses: EX_CONFIG from sysexits.h.
EX_CONFIG = 78
# The telemetry switches (tasks/runtime.py TELEMETRY_OFF holds the same list for the CLI).
TELEMETRY = {
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
}
# The environment variables tasks/, flows/ and serving/ read (test_code_reads_these_variables
# keeps this list true). MLOPS_PROJECT is excluded: `mlops serve` sets it for its own workers.
CODE_READS = {
    "MLFLOW_TRACKING_URI",
    "PREFECT_API_URL",
    "MLOPS_WEBHOOK_URL",
    "MLOPS_WEBHOOK_ALLOW_HTTP",
    "MLOPS_RUNBOOK_URL",
    "MLOPS_MLFLOW_UI_URL",
    "SERVING_TOKEN",
    "SERVING_FEEDBACK_TOKEN",
}
SET_BY_OUR_CODE = {"MLOPS_PROJECT"}
# The services that run flows, and what each kind needs from the code's list.
FLOW_SERVICES = ("worker", "deployments")
FLOW_NEEDS = CODE_READS - {"SERVING_TOKEN", "SERVING_FEEDBACK_TOKEN"}
SERVING_NEEDS = {
    "MLFLOW_TRACKING_URI",
    "SERVING_TOKEN",
    "SERVING_FEEDBACK_TOKEN",
    "MLOPS_WEBHOOK_URL",  # the endpoint alerts on a version it refuses
    "MLOPS_WEBHOOK_ALLOW_HTTP",
    "MLOPS_RUNBOOK_URL",
}
# Services that are one-shot jobs (restart "no", awaited with service_completed_successfully).
ONE_SHOT_CONDITION = "service_completed_successfully"


# --- helpers ---------------------------------------------------------------------------------


def compose_text() -> str:
    """docker-compose.yml as text, comments included."""
    return (ROOT / "docker-compose.yml").read_text(encoding="utf-8")


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]  # type: ignore[no-any-return]


def ours(service: dict[str, Any]) -> bool:
    """A service built from the project's Dockerfile (the others are upstream images)."""
    return "build" in service


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "write environment as a mapping, so anchors can merge"
    return {key: "" if value is None else str(value) for key, value in env.items()}


@functools.cache
def env_example() -> tuple[tuple[str, str, str], ...]:
    """(name, value, the line above) of each assignment in .env.example."""
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    entries = []
    for number, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"line {number + 1}: {line!r}"
        entries.append((name, value, lines[number - 1] if number else ""))
    return tuple(entries)


def example_values() -> dict[str, str]:
    return {name: value for name, value, _ in env_example()}


def strings(node: Any) -> list[str]:
    """Every string value in the compose tree (keys are never interpolated)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return []


def port_problems(service: str, ports: list[Any], env: dict[str, str]) -> list[str]:
    """Each port mapping of ``service`` that is reachable from beyond this machine: every
    published port must name host IP 127.0.0.1 (short ``IP:HOST:CONTAINER`` or long syntax
    ``host_ip``). A mapping without an IP binds 0.0.0.0, Docker's default."""
    problems = []
    for entry in ports:
        if isinstance(entry, dict):
            ip = str(entry.get("host_ip", ""))
            shown = json.dumps(entry, sort_keys=True)
        else:
            spec = interpolate(str(entry), env).split("/", 1)[0]
            parts = spec.rsplit(":", 2)
            ip = parts[0] if len(parts) == 3 else ""
            shown = str(entry)
        if not ip:
            problems.append(
                f"{service}: port {shown} binds every interface; use 127.0.0.1:HOST:CONTAINER"
            )
        elif ip != "127.0.0.1":
            problems.append(f"{service}: port {shown} binds {ip}; use 127.0.0.1")
    return problems


def options(command: list[str]) -> dict[str, str]:
    """``--name=value`` and ``--name value`` options of a command; flags map to ''."""
    found: dict[str, str] = {}
    for index, token in enumerate(command):
        if not token.startswith("--"):
            continue
        name, sep, value = token.partition("=")
        if not sep:
            following = command[index + 1] if index + 1 < len(command) else ""
            value = "" if following.startswith("--") else following
        found[name] = value
    return found


def after(command: list[str], *head: str) -> list[str]:
    """The part of ``command`` after the words ``head`` (wrapper scripts come first)."""
    for index in range(len(command) - len(head) + 1):
        if tuple(command[index : index + len(head)]) == head:
            return command[index + len(head) :]
    raise AssertionError(f"{' '.join(head)!r} not in {command}")


def run_require_env(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(
        ["sh", str(REQUIRE_ENV), *command],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def refusal(name: str) -> str:
    return (
        f"refusing to start: {name} still holds the example value '{PLACEHOLDER}' from "
        ".env.example; set a real secret in .env"
    )


# --- 1. the Compose specification ------------------------------------------------------------


def schema_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)  # type: ignore[no-any-return]


def test_compose_file_follows_the_compose_specification() -> None:
    """Validated by the schema docker compose itself validates with: a typo in a key
    (``healthcheck.intervall``) or a bad value (``condition: service_ready``) fails here."""
    validator = schema_validator()
    assert type(validator).__name__ == "Draft201909Validator"  # what the schema declares
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []
    # The same after interpolation with the example values: what compose really checks.
    interpolated = interpolate_tree(compose(), example_values())
    assert [e.message for e in validator.iter_errors(interpolated)] == []


def test_schema_rejects_a_broken_compose_file() -> None:
    """The validation is not vacuous: an unknown condition and a misspelt key are caught."""
    broken = json.loads(json.dumps(compose()))
    broken["services"]["mlflow"]["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["serving"]["healthcheck"]["intervall"] = "5s"
    errors = sorted(
        (list(e.absolute_path), e.message) for e in schema_validator().iter_errors(broken)
    )
    assert [path for path, _ in errors] == [
        ["services", "mlflow", "depends_on"],
        ["services", "serving", "healthcheck"],
    ]
    assert errors[1][1] == "'intervall' does not match any of the regexes: '^x-'"


# --- 2. ports --------------------------------------------------------------------------------


def test_every_published_port_is_bound_to_localhost() -> None:
    env = example_values()
    problems = [
        problem
        for name, service in services().items()
        for problem in port_problems(name, service.get("ports", []), env)
    ]
    assert problems == []
    published = {name for name, service in services().items() if service.get("ports")}
    # Postgres and MinIO's S3 API stay on the compose network; the Evidently UI's reads have no
    # authentication, so it is not published either (security review #15).
    assert published == {"minio", "mlflow", "prefect-server", "serving"}


def test_port_check_reports_open_bindings() -> None:
    """The checker catches what it must: no IP, 0.0.0.0, a bare number, long syntax without
    host_ip; and accepts 127.0.0.1 in both syntaxes."""
    bad = ["5000:5000", "0.0.0.0:5000:5000", 5000, {"target": 5000, "published": 5000}]
    good = ["127.0.0.1:${MLFLOW_PORT:-5000}:5000/tcp", {"target": 1, "host_ip": "127.0.0.1"}]
    assert port_problems("mlflow", bad + good, {}) == [
        "mlflow: port 5000:5000 binds every interface; use 127.0.0.1:HOST:CONTAINER",
        "mlflow: port 0.0.0.0:5000:5000 binds 0.0.0.0; use 127.0.0.1",
        "mlflow: port 5000 binds every interface; use 127.0.0.1:HOST:CONTAINER",
        'mlflow: port {"published": 5000, "target": 5000} binds every interface; '
        "use 127.0.0.1:HOST:CONTAINER",
    ]


# --- 3. variables ----------------------------------------------------------------------------


def test_every_compose_variable_is_in_env_example() -> None:
    declared = set(example_values())
    used = {name for text in strings(compose()) for name, _ in references(text)}
    assert sorted(used - declared) == []


def test_every_env_example_variable_is_used() -> None:
    """A variable nobody reads is a setting that silently does nothing."""
    used = {name for text in strings(compose()) for name, _ in references(text)}
    assert sorted(set(example_values()) - used - CODE_READS) == []


def test_every_env_example_variable_is_documented_once() -> None:
    entries = env_example()
    undocumented = [name for name, _, above in entries if not above.lstrip().startswith("#")]
    assert undocumented == []
    names = [name for name, _, _ in entries]
    assert len(names) == len(set(names)), "a variable is assigned twice"


# --- 4. secrets ------------------------------------------------------------------------------


def secret_names() -> list[str]:
    return [name for name in example_values() if SECRET_NAME.search(name)]


def test_no_usable_secret_in_env_example() -> None:
    values = example_values()
    assert secret_names(), "no secret found: the pattern or the file changed"
    assert {name: values[name] for name in secret_names()} == dict.fromkeys(
        secret_names(), PLACEHOLDER
    )
    # The entrypoint refuses the very placeholder the file uses.
    assert f'PLACEHOLDER="{PLACEHOLDER}"' in REQUIRE_ENV.read_text(encoding="utf-8")


def test_secrets_are_required_by_compose() -> None:
    """``${SECRET}`` would start a service with an empty password; ``${SECRET:?message}`` makes
    compose stop with the message instead."""
    loose = sorted(
        f"{name}{modifier}"
        for text in strings(compose())
        for name, modifier in references(text)
        if name in secret_names() and not modifier.startswith(":?")
    )
    assert loose == []


def test_entrypoint_refuses_the_example_values() -> None:
    secrets = secret_names()
    result = run_require_env(
        {**example_values(), "MLOPS_REQUIRED_ENV": " ".join(secrets)}, "echo", "started"
    )
    assert result.returncode == EX_CONFIG
    assert result.stdout == ""
    assert result.stderr.splitlines() == [refusal(name) for name in secrets]


def test_entrypoint_refuses_missing_and_embedded_placeholders() -> None:
    """A placeholder inside a URL or a user:password string is refused too; an unset and an
    empty variable are both 'not set'."""
    result = run_require_env(
        {
            "MLOPS_REQUIRED_ENV": "DB_URL EMPTY UNSET",
            "DB_URL": f"postgresql+asyncpg://prefect:{PLACEHOLDER}@postgres:5432/prefect",
            "EMPTY": "",
        },
        "echo",
        "started",
    )
    assert result.returncode == EX_CONFIG
    assert result.stderr.splitlines() == [
        refusal("DB_URL"),
        "refusing to start: EMPTY is not set (copy .env.example to .env and set it)",
        "refusing to start: UNSET is not set (copy .env.example to .env and set it)",
    ]


def test_entrypoint_runs_the_command_with_real_values() -> None:
    real = {name: f"s3cr3t-{index:02d}-Xq9" for index, name in enumerate(secret_names())}
    result = run_require_env(
        {**real, "MLOPS_REQUIRED_ENV": " ".join(real)}, "sh", "-c", 'echo "ok $SERVING_TOKEN"'
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"ok {real['SERVING_TOKEN']}\n",
        "",
    )


def test_entrypoint_rejects_a_bad_variable_name() -> None:
    """Names reach ``eval``: anything but a variable name stops the script before it."""
    result = run_require_env({"MLOPS_REQUIRED_ENV": "OK $(touch /tmp/x)"}, "true")
    assert result.returncode == 64
    assert result.stderr == "require-env: '$(touch' in MLOPS_REQUIRED_ENV is not a variable name\n"


def test_each_service_checks_every_secret_it_receives() -> None:
    """A secret a service receives is listed in its MLOPS_REQUIRED_ENV (so a placeholder is
    refused), every listed name is set (else it could never start), and the check runs: our
    image's ENTRYPOINT, or the upstream image's entrypoint wrapped by the mounted script."""
    secrets = set(secret_names())
    for name, service in services().items():
        env = environment(service)
        receives = {
            key for key, value in env.items() if {n for n, _ in references(value)} & secrets
        }
        required = set(env.get("MLOPS_REQUIRED_ENV", "").split())
        assert sorted(receives - required) == [], f"{name}: secrets not checked"
        assert sorted(required - set(env)) == [], f"{name}: checks variables it never gets"
        if not receives:
            continue
        if ours(service):
            assert "entrypoint" not in service, f"{name}: overrides the checking ENTRYPOINT"
        else:
            assert service["entrypoint"][:2] == ["/bin/sh", "/mlops/require-env.sh"], name
            mounted = {(c["source"], c["target"]) for c in service.get("configs", [])}
            assert ("require-env", "/mlops/require-env.sh") in mounted, name
    assert compose()["configs"]["require-env"] == {"file": "./docker/require-env.sh"}


# --- 5. health, order, volumes ---------------------------------------------------------------


def test_every_service_is_health_checked_or_a_one_shot_job() -> None:
    for name, service in services().items():
        if service.get("restart") == "no":
            assert "healthcheck" not in service, f"{name}: a job has no health"
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] == "CMD", f"{name}: no healthcheck"
    jobs = {name for name, service in services().items() if service.get("restart") == "no"}
    assert jobs == {"create-buckets", "deployments", "mlflow-users"}


def test_every_dependency_waits_on_a_condition() -> None:
    for name, service in services().items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for target, spec in depends.items():
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services()[target], f"{name} -> {target}"
            elif condition == ONE_SHOT_CONDITION:
                assert services()[target]["restart"] == "no", f"{name} -> {target}"
            else:
                raise AssertionError(f"{name} -> {target}: condition {condition}")
    # The one-shot job is awaited by everything that stores into its buckets.
    waiting = {n for n, s in services().items() if "create-buckets" in s.get("depends_on", {})}
    assert waiting == {"mlflow", "worker", "deployments"}


def test_volumes_are_named_and_declared() -> None:
    declared = set(compose()["volumes"])
    used = set()
    for name, service in services().items():
        for entry in service.get("volumes", []):
            source = entry["source"] if isinstance(entry, dict) else entry.split(":", 1)[0]
            assert not source.startswith((".", "/", "~", "$")), f"{name}: bind mount {entry}"
            assert source in declared, f"{name}: volume {source} is not declared"
            used.add(source)
    assert sorted(declared - used) == []


# --- 6. commands against the code ------------------------------------------------------------


def command(name: str) -> list[str]:
    value = services()[name]["command"]
    assert isinstance(value, list), f"{name}: write the command as a list (no shell parsing)"
    return [str(token) for token in value]


def test_code_reads_these_variables() -> None:
    """CODE_READS is what tasks/, flows/ and serving/ read from the environment; when the code
    starts reading another variable, this fails until the stack sets it."""
    read = set()
    patterns = (
        r'os\.environ(?:\.get)?[\(\[]\s*"([A-Z][A-Z0-9_]+)"',
        r'"((?:MLOPS|SERVING)_[A-Z0-9_]+)"',
        r'^[A-Z_]*ENV\s*=\s*"([A-Z][A-Z0-9_]+)"',
    )
    for folder in ("tasks", "flows", "serving"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for pattern in patterns:
                read.update(re.findall(pattern, text, flags=re.MULTILINE))
    assert read - SET_BY_OUR_CODE == CODE_READS


def test_services_set_what_the_code_reads() -> None:
    for name in FLOW_SERVICES:
        assert sorted(FLOW_NEEDS - set(environment(services()[name]))) == [], name
    assert sorted(SERVING_NEEDS - set(environment(services()["serving"]))) == []
    env = environment(services()["serving"])
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    # basic auth: each client logs in as its own user (docker/mlflow-users.py), never the admin
    for name, user in (("worker", "WORKER"), ("deployments", "WORKER"), ("serving", "SERVING")):
        env = environment(services()[name])
        assert env["MLFLOW_TRACKING_USERNAME"].startswith(f"${{MLFLOW_{user}_USERNAME:?")
        assert env["MLFLOW_TRACKING_PASSWORD"].startswith(f"${{MLFLOW_{user}_PASSWORD:?")
    for name in FLOW_SERVICES:
        env = environment(services()[name])
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert env["PREFECT_API_AUTH_STRING"].startswith("${PREFECT_AUTH_STRING:?")


def test_mlflow_server_command_and_security() -> None:
    argv = after(command("mlflow"), "mlflow", "server")
    opts = options(argv)
    assert opts["--app-name"] == "basic-auth"
    assert opts["--backend-store-uri"] == "postgresql+psycopg://mlflow@postgres:5432/mlflow"
    assert opts["--artifacts-destination"] == "s3://mlflow"
    assert "--serve-artifacts" in opts
    assert opts["--allowed-hosts"].split(",") == ["mlflow:5000", "127.0.0.1:*", "localhost:*"]
    env = environment(services()["mlflow"])
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == "/tmp/mlflow-auth/basic_auth.ini"
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["PGPASSWORD"].startswith("${MLFLOW_DB_PASSWORD:?")


def test_model_version_sources_are_restricted_to_the_artifact_store() -> None:
    raw = environment(services()["mlflow"])["MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX"]
    regex = re.compile(interpolate(raw, {}))
    # what MLflow 3's log_model(registered_model_name=...) registers, and nothing else: the
    # integration test (test_production.py) checks that the stack's versions have such sources
    allowed = ["models:/m-0123456789abcdef0123456789abcdef"]
    refused = [
        "file:///etc/passwd",
        "s3://attacker/model",
        "s3://mlflow-other/model",
        "models:/m-0123456789abcdef0123456789abcdef/../../x",
        "/tmp/model",
        # open prefixes into the artifact store (any experiment's files): refused since #21
        "mlflow-artifacts:/1/models/m-0123/artifacts",
        "s3://mlflow/1/models/m-0123/artifacts",
        "models:/m-0123456789ABCDEF0123456789ABCDEF",
        "models:/m-0123456789abcdef0123456789abcdef\n",
        "models:/customer-purchase/1",
    ]
    assert [bool(regex.search(s)) for s in allowed + refused] == [True] + [False] * 10
    assert regex.pattern == r"^models:/m-[0-9a-f]{32}\Z"


def test_mlflow_auth_ini_is_rendered_from_the_environment(tmp_path: Path) -> None:
    """docker/mlflow-auth.sh writes the ini MLflow reads; read back as MLflow does
    (configparser with its default interpolation), a '%' in a password survives."""
    python_dir = str(Path(sys.executable).parent)
    target = tmp_path / "auth" / "basic_auth.ini"
    env = {
        "PATH": f"{python_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_AUTH_CONFIG_PATH": str(target),
        "MLOPS_AUTH_DATABASE_URI": "postgresql+psycopg://mlflow@postgres:5432/mlflow_auth",
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
        "MLFLOW_AUTH_ADMIN_PASSWORD": "p%ss$word",
    }
    script = str(DOCKER_DIR / "mlflow-auth.sh")
    result = subprocess.run(
        ["sh", script, "echo", "served"], env=env, capture_output=True, text=True, timeout=20
    )
    assert (result.returncode, result.stdout) == (0, "served\n"), result.stderr
    assert target.stat().st_mode & 0o077 == 0, "the ini holds a password: owner only"
    parser = configparser.ConfigParser()
    parser.read(target)
    assert dict(parser["mlflow"]) == {
        "default_permission": "NO_PERMISSIONS",
        "database_uri": "postgresql+psycopg://mlflow@postgres:5432/mlflow_auth",
        "admin_username": "admin",
        "admin_password": "p%ss$word",
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
        "grant_default_workspace_access": "false",
    }
    # The service sets every variable the template needs.
    mlflow_env = environment(services()["mlflow"])
    template = (DOCKER_DIR / "basic_auth.ini.template").read_text(encoding="utf-8")
    assert sorted(set(re.findall(r"\$\{([A-Z_]+)\}", template)) - set(mlflow_env)) == []

    broken = {**env, "MLFLOW_AUTH_ADMIN_PASSWORD": "a\nadmin_username = eve"}
    result = subprocess.run(
        ["sh", script, "echo", "served"], env=broken, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"MLFLOW_AUTH_ADMIN_PASSWORD holds a line break; refusing to write {target}" in (
        result.stderr
    )


def test_prefect_server_uses_postgres_auth_and_csrf() -> None:
    argv = command("prefect-server")
    assert argv[:3] == ["prefect", "server", "start"]
    assert options(argv)["--host"] == "0.0.0.0"  # inside the container; published on 127.0.0.1
    env = environment(services()["prefect-server"])
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://prefect:")
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"].endswith("@postgres:5432/prefect")
    assert env["PREFECT_SERVER_API_AUTH_STRING"].startswith("${PREFECT_AUTH_STRING:?")
    assert env["PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED"] == "true"


def test_worker_runs_a_process_work_pool() -> None:
    opts = options(after(command("worker"), "prefect", "worker", "start"))
    assert (opts["--pool"], opts["--type"]) == ("mlops", "process")
    assert "--with-healthcheck" in opts
    env = environment(services()["worker"])
    assert env["PREFECT_WORKER_WEBSERVER_HOST"] == "127.0.0.1"
    assert env["DVC_REMOTE_URL"] == "s3://dvc"
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"


def test_telemetry_is_off_in_every_service_of_our_image() -> None:
    from tasks.runtime import TELEMETRY_OFF

    assert TELEMETRY_OFF == TELEMETRY
    for name, service in services().items():
        env = environment(service)
        assert {key: env.get(key) for key in TELEMETRY} == TELEMETRY, name


def test_mlops_commands_and_options_exist() -> None:
    """Each ``mlops`` command in the compose file is a real subcommand, with real options."""
    import typer.main

    from cli.main import app

    group = typer.main.get_command(app)
    used = []
    for name in services():
        argv = command(name)
        if "mlops" not in argv:
            continue
        sub = after(argv, "mlops")
        assert sub[0] in group.commands, f"{name}: mlops {sub[0]} does not exist"  # type: ignore[attr-defined]
        known = {opt for p in group.commands[sub[0]].params for opt in p.opts}  # type: ignore[attr-defined]
        assert sorted(set(options(sub)) - known) == [], f"{name}: mlops {sub[0]}"
        used.append(sub[0])
    assert sorted(used) == ["deploy", "serve"]


def test_evidently_ui_serves_the_project_workspace() -> None:
    argv = command("evidently")
    opts = options(after(argv, "evidently", "ui"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert opts["--workspace"] == params["paths"]["workspace"]
    assert opts["--host"] == "0.0.0.0"
    assert "evidently-workspace:/app/evidently" in services()["evidently"]["volumes"]
    # not started by `up` and not published (security review #15): an operator runs it for a
    # session with `docker compose run --rm --publish 127.0.0.1:8000:8000 evidently`
    assert services()["evidently"]["profiles"] == ["evidently-ui"]
    assert "ports" not in services()["evidently"]
    assert "docker compose run --rm --publish 127.0.0.1:8000:8000 evidently" in (compose_text())


# --- 7. the Dockerfile -----------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), " ".join(rest.split())))
    return found


def test_dockerfile_builds_from_the_lock_as_non_root() -> None:
    """Installed as root, run as mlops (security review #17): every COPY and RUN comes before
    the last USER, and nothing copied is given to mlops, so the code and .venv stay root's and
    read-only to the services; mlops owns only the volume folders, dvc.lock and .dvc/tmp."""
    steps = instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    runs = [args for word, args in steps if word == "RUN"]
    assert any(a.startswith("uv sync --locked --no-dev") for a in runs)
    assert all("--locked" in a for a in runs if a.startswith("uv sync"))
    assert any("apt-get install" in a and " git" in a for a in runs)
    copies = [args for word, args in steps if word == "COPY"]
    assert any(a.startswith("--from=ghcr.io/astral-sh/uv:") for a in copies)
    users = [(i, args) for i, (word, args) in enumerate(steps) if word == "USER"]
    assert [args for _, args in users] == ["mlops"]
    last_build_step = max(i for i, (word, _) in enumerate(steps) if word in {"RUN", "COPY"})
    assert users[-1][0] > last_build_step
    assert not [args for word, args in steps if word == "COPY" and "--chown" in args]
    (owned,) = [args for word, args in steps if word == "RUN" and "chown" in args]
    assert (
        "chown -R mlops:mlops data models reports logs evidently .dvc/cache .dvc/tmp .mlops "
        "dvc.lock" in owned
    )
    assert "git config --system --add safe.directory /app" in " ".join(runs)
    entrypoint = json.loads(dict(steps)["ENTRYPOINT"])
    assert entrypoint == ["/bin/sh", "/app/docker/require-env.sh"]
    env = " ".join(args for word, args in steps if word == "ENV")
    assert all(f"{key}={value}" in env for key, value in TELEMETRY.items())


def test_dockerfile_copies_files_that_exist_and_are_not_ignored() -> None:
    ignored = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("!")
    ]
    sources = []
    for word, args in instructions():
        if word == "COPY" and "--from=" not in args:
            parts = [p for p in args.split() if not p.startswith("--")]
            sources.extend(parts[:-1])
    assert sources, "no COPY found"
    for source in sources:
        if source == ".":
            continue
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert source not in ignored, f"COPY {source}: excluded by .dockerignore"
    for path in ("docker/require-env.sh", "docker/mlflow-auth.sh", "docker/healthcheck.py",
                 "docker/mlflow-users.py"):  # fmt: skip
        assert (ROOT / path).is_file()
        assert not any(path.startswith(p.rstrip("*")) for p in ignored if "/" in p), path
    # what must never reach the build context
    assert {".git", ".env", ".venv", "mlflow.db"} <= set(ignored)


def test_the_stack_drivers_are_locked_dependencies() -> None:
    """MLflow on Postgres (psycopg 3, named in the URI: ``postgresql+psycopg://``), its
    artifacts on S3 (boto3) and the DVC remote on S3 (dvc-s3) come from uv.lock like everything
    else, not from a side install in the image."""
    locked = set(re.findall(r'^name = "([^"]+)"', (ROOT / "uv.lock").read_text(), re.MULTILINE))
    assert {"psycopg", "psycopg-binary", "boto3", "dvc-s3"} <= locked
    assert "pip install" not in (ROOT / "Dockerfile").read_text()


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")
def test_docker_scripts_parse_as_posix_sh() -> None:
    scripts = sorted(DOCKER_DIR.glob("*.sh"))
    assert [p.name for p in scripts] == [
        "create-buckets.sh",
        "dvc-remote.sh",
        "mlflow-auth.sh",
        "postgres-init.sh",
        "require-env.sh",
    ]
    for script in scripts:
        result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert (script.name, result.returncode, result.stderr) == (script.name, 0, "")


# --- 8. least privilege (security review #6, #15, #17) ---------------------------------------

# A variable of .env that is a credential: a secret, or the user name that goes with one.
CREDENTIAL_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|AUTH_STRING|KEY|USER")
# What each service may hold, and nothing more: MLflow's admin only in the server (its ini) and
# the one-shot job that creates the service users; one MinIO user per bucket; the Prefect auth
# string only where Prefect is spoken.
CREDENTIALS = {
    "postgres": {"POSTGRES_PASSWORD", "MLFLOW_DB_PASSWORD", "PREFECT_DB_PASSWORD"},
    "minio": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    "create-buckets": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "MINIO_MLFLOW_ACCESS_KEY",
                       "MINIO_MLFLOW_SECRET_KEY", "MINIO_DVC_ACCESS_KEY", "MINIO_DVC_SECRET_KEY"},
    "mlflow": {"MLFLOW_DB_PASSWORD", "MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD",
               "MLFLOW_FLASK_SERVER_SECRET_KEY", "MINIO_MLFLOW_ACCESS_KEY",
               "MINIO_MLFLOW_SECRET_KEY"},
    "mlflow-users": {"MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD",
                     "MLFLOW_WORKER_USERNAME", "MLFLOW_WORKER_PASSWORD",
                     "MLFLOW_SERVING_USERNAME", "MLFLOW_SERVING_PASSWORD"},
    "prefect-server": {"PREFECT_DB_PASSWORD", "PREFECT_AUTH_STRING"},
    "deployments": {"MLFLOW_WORKER_USERNAME", "MLFLOW_WORKER_PASSWORD", "PREFECT_AUTH_STRING",
                    "MINIO_DVC_ACCESS_KEY", "MINIO_DVC_SECRET_KEY"},
    "worker": {"MLFLOW_WORKER_USERNAME", "MLFLOW_WORKER_PASSWORD", "PREFECT_AUTH_STRING",
               "MINIO_DVC_ACCESS_KEY", "MINIO_DVC_SECRET_KEY"},
    "serving": {"MLFLOW_SERVING_USERNAME", "MLFLOW_SERVING_PASSWORD", "SERVING_TOKEN",
                "SERVING_FEEDBACK_TOKEN"},
    "evidently": {"EVIDENTLY_SECRET"},
}  # fmt: skip
# Who shares a network with whom: the Prefect API is reachable from the worker and the
# deployments job only (the operators reach it on its published port), the scoring endpoint
# reaches MLflow and nothing else, Postgres and MinIO only their clients.
PEERS = {
    "postgres": {"mlflow", "prefect-server"},
    "minio": {"create-buckets", "mlflow", "worker", "deployments"},
    "create-buckets": {"minio", "mlflow", "worker", "deployments"},
    "mlflow": {"postgres", "minio", "create-buckets", "mlflow-users", "worker", "deployments",
               "serving"},
    "mlflow-users": {"mlflow", "worker", "deployments", "serving"},
    "prefect-server": {"postgres", "worker", "deployments"},
    "deployments": {"minio", "create-buckets", "mlflow", "mlflow-users", "prefect-server",
                    "worker", "serving"},
    "worker": {"minio", "create-buckets", "mlflow", "mlflow-users", "prefect-server",
               "deployments", "serving"},
    "serving": {"mlflow", "mlflow-users", "worker", "deployments"},
    "evidently": set(),
}  # fmt: skip
# Services of our image that write something in /app beside the volumes (dvc.lock, .dvc/tmp).
WRITABLE_ROOT = {"worker", "deployments"}


def test_each_service_holds_only_its_own_credentials() -> None:
    """Before #6 serving, worker and deployments all logged in as MLflow's admin, and one MinIO
    user with readwrite on every bucket was shared by the MLflow server and the flows."""
    held = {
        name: {
            ref
            for value in environment(service).values()
            for ref, _ in references(value)
            if CREDENTIAL_NAME.search(ref)
        }
        for name, service in services().items()
    }
    assert held == CREDENTIALS


def test_networks_let_each_service_reach_only_what_it_uses() -> None:
    declared = compose()["networks"]
    joined = {}
    for name, service in services().items():
        networks = service.get("networks")
        assert isinstance(networks, list) and networks, f"{name}: join named networks"
        assert set(networks) <= set(declared), name
        joined[name] = set(networks)
    peers = {
        name: {other for other in joined if other != name and joined[other] & mine}
        for name, mine in joined.items()
    }
    assert peers == PEERS
    # the databases' networks have no route out
    assert {n for n, spec in declared.items() if (spec or {}).get("internal")} == {
        "mlflow-database",
        "prefect-database",
    }


def test_no_service_gains_privileges() -> None:
    """Every capability dropped and no-new-privileges everywhere (postgres keeps the five its
    entrypoint needs); our image as uid 10001 with a read-only root filesystem, except where
    the pipeline writes dvc.lock."""
    added = {}
    for name, service in services().items():
        assert service.get("cap_drop") == ["ALL"], name
        assert service.get("security_opt") == ["no-new-privileges:true"], name
        if "cap_add" in service:
            added[name] = service["cap_add"]
        if not ours(service):
            continue
        assert service["user"] == "10001:10001", name
        if name in WRITABLE_ROOT:
            assert "read_only" not in service, name
        else:
            assert (service.get("read_only"), service.get("tmpfs")) == (
                True,
                ["/tmp", "/home/mlops"],
            ), name
    assert added == {"postgres": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]}
    assert {n for n, s in services().items() if ours(s)} - WRITABLE_ROOT == {
        "mlflow", "mlflow-users", "prefect-server", "serving", "evidently",
    }  # fmt: skip


def test_pickle_deserialization_is_off_in_every_service() -> None:
    for name, service in services().items():
        assert environment(service).get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION") == "false", name


def test_serving_mounts_only_the_log_and_the_feedback_folder() -> None:
    """Before #17 serving mounted all of project-data read-write (data/raw included)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    log_folder = str(Path(params["paths"]["inference_log"]).parent)
    feedback = f"/app/{params['paths']['feedback']}"
    assert services()["serving"]["volumes"] == [
        f"inference-log:/app/{log_folder}",
        f"feedback:{feedback}",
    ]
    # the flows see the same two, at the same paths
    for name in FLOW_SERVICES:
        volumes = services()[name]["volumes"]
        assert {f"inference-log:/app/{log_folder}", f"feedback:{feedback}"} <= set(volumes)


def test_each_bucket_has_its_own_user_and_policy() -> None:
    """docker/s3-policy-<bucket>.json allows its own bucket and its objects, nothing else; the
    MLflow server gets the mlflow bucket's user, the flows the dvc bucket's."""
    actions = set()
    for bucket in ("mlflow", "dvc"):
        policy = json.loads((DOCKER_DIR / f"s3-policy-{bucket}.json").read_text())
        resources = {r for st in policy["Statement"] for r in st["Resource"]}
        assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
        assert {st["Effect"] for st in policy["Statement"]} == {"Allow"}
        actions |= {a for st in policy["Statement"] for a in st["Action"]}
        assert compose()["configs"][f"s3-policy-{bucket}"] == {
            "file": f"./docker/s3-policy-{bucket}.json"
        }
        mounted = {c["source"]: c["target"] for c in services()["create-buckets"]["configs"]}
        assert mounted[f"s3-policy-{bucket}"] == f"/mlops/s3-policy-{bucket}.json"
    assert not [a for a in actions if "*" in a or a.startswith(("s3:PutBucket", "s3:DeleteBucket"))]
    script = (DOCKER_DIR / "create-buckets.sh").read_text(encoding="utf-8")
    assert 'mc admin policy create local "bucket-$bucket" "$here/s3-policy-$bucket.json"' in script
    assert "readwrite --user" in script  # detached from a user kept from an older stack
    env = {name: environment(services()[name]) for name in ("mlflow", *FLOW_SERVICES)}
    assert env["mlflow"]["AWS_ACCESS_KEY_ID"].startswith("${MINIO_MLFLOW_ACCESS_KEY:?")
    for name in FLOW_SERVICES:
        assert env[name]["AWS_ACCESS_KEY_ID"].startswith("${MINIO_DVC_ACCESS_KEY:?")


def _mlflow_users() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("mlflow_users", DOCKER_DIR / "mlflow-users.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlflow_users_job_grants_on_the_projects_own_names() -> None:
    """The experiments and the model docker/mlflow-users.py grants on are the ones the pipeline
    writes (params.yaml, ``auto`` resolved)."""
    model, flows, serving = _mlflow_users().resources(ROOT)
    assert (model, flows, serving) == (
        "customer-purchase",
        ["customer-purchase", "customer-purchase-monitoring", "customer-purchase-predictions"],
        "customer-purchase",
    )
    job = services()["mlflow-users"]
    assert command("mlflow-users") == ["python", "docker/mlflow-users.py"]
    assert job["depends_on"] == {"mlflow": {"condition": "service_healthy"}}
    waiting = {n for n, s in services().items() if "mlflow-users" in s.get("depends_on", {})}
    assert waiting == {"worker", "deployments", "serving"}
