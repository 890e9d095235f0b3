"""The deployment artifacts in deploy/ agree with the code: settings, CLI commands, ports, probes.

No container runtime runs here, so the files are parsed and checked against the settings model,
the CLI's parser and the app's routes; HAProxy's configuration is checked by HAProxy itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.routing import APIRoute
from starlette.routing import Route

from app.cli import build_parser
from app.config import Settings
from app.main import create_app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
REQUIRED = {"DATABASE_URL", "REDIS_URL", "APP_ENV"}
SETTINGS = {name.upper() for name in Settings.model_fields}


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object in deploy/k8s, by kind/name."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in documents(path):
            found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def settings_from(environment: dict[str, Any]) -> Settings:
    """Settings built from an artifact's variables (compose's ${VAR:?...} stand-ins filled in)."""
    values = {
        name.lower(): re.sub(r"\$\{[^}]*\}", "secret", str(value))
        for name, value in environment.items()
    }
    return Settings.model_validate(values)  # these values alone: no environment, no .env


def dockerfile_env() -> dict[str, str]:
    text = (DEPLOY / "Dockerfile").read_text()
    runtime = text.split(" AS runtime", 1)[1]
    block = re.search(r"^ENV (.+?)(?:\n(?!\s)|\Z)", runtime, re.M | re.S)
    assert block is not None
    pairs = re.findall(r"(\w+)=(\S+)", block.group(1))
    return {name: value for name, value in pairs if not name.startswith(("PATH", "PYTHON"))}


def app_environments() -> dict[str, dict[str, Any]]:
    """The variables each way of deploying gives the app."""
    objects = manifests()
    k8s = {
        **objects["ConfigMap/insitechart"]["data"],
        **objects["Secret/insitechart"]["stringData"],
    }
    services = compose()["services"]
    return {
        "compose app": services["app"]["environment"],
        "compose migrate": services["migrate"]["environment"],
        "kubernetes": k8s,
        "dockerfile": dockerfile_env(),
    }


@pytest.mark.parametrize("where", ["compose app", "compose migrate", "kubernetes", "dockerfile"])
def test_every_variable_an_artifact_sets_is_a_setting(where: str) -> None:
    environment = app_environments()[where]
    unknown = sorted(set(environment) - SETTINGS)
    assert unknown == [], f"{where} sets variables the settings model does not have: {unknown}"
    settings = settings_from(environment)
    assert settings.app_env == "production" or where == "dockerfile"


@pytest.mark.parametrize("where", ["compose app", "compose migrate", "kubernetes"])
def test_required_variables_are_set_for_production(where: str) -> None:
    environment = app_environments()[where]
    assert REQUIRED <= set(environment), REQUIRED - set(environment)
    settings = settings_from(environment)
    assert settings.is_production
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.redis_url is not None


def commands() -> list[list[str]]:
    objects = manifests()
    found = [
        c["command"]
        for kind in ("Deployment/insitechart", "Job/insitechart-migrate")
        for c in pod_spec(objects[kind])["containers"]
    ]
    found += [s.get("command", []) for s in compose()["services"].values()]
    cmd = re.search(r"^CMD (\[.*\])$", (DEPLOY / "Dockerfile").read_text(), re.M)
    assert cmd is not None
    found.append(yaml.safe_load(cmd.group(1)))
    return [c for c in found if c and c[0] == "insitechart"]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def test_every_command_is_one_the_cli_accepts() -> None:
    found = commands()
    assert {c[1] for c in found} == {"serve", "migrate"}
    for command in found:
        args = build_parser().parse_args(command[1:])
        assert callable(args.handler), command


def test_ports_agree_everywhere() -> None:
    objects = manifests()
    port = int(objects["ConfigMap/insitechart"]["data"]["PORT"])
    container = pod_spec(objects["Deployment/insitechart"])["containers"][0]
    assert container["ports"][0]["containerPort"] == port
    services = compose()["services"]
    assert int(services["app"]["environment"]["PORT"]) == port
    assert services["app"]["expose"] == [str(port)]
    assert int(services["haproxy"]["environment"]["APP_PORT"]) == port
    assert int(dockerfile_env()["PORT"]) == port
    assert f"EXPOSE {port}" in (DEPLOY / "Dockerfile").read_text()


def routes() -> set[str]:
    app = create_app(Settings.model_validate({"app_env": "production"}))
    return {r.path for r in app.routes if isinstance(r, APIRoute | Route)}


def test_probes_and_health_checks_use_the_apps_endpoints() -> None:
    paths = routes()
    container = pod_spec(manifests()["Deployment/insitechart"])["containers"][0]
    readiness = container["readinessProbe"]["httpGet"]["path"]
    liveness = container["livenessProbe"]["httpGet"]["path"]
    assert (readiness, liveness) == ("/readyz", "/livez")
    assert {readiness, liveness} <= paths
    assert "/livez" in (DEPLOY / "Dockerfile").read_text().split("HEALTHCHECK", 1)[1]
    assert "uri /readyz" in (DEPLOY / "haproxy.cfg").read_text()


def test_dockerfile_is_multi_stage_non_root_locked_and_copies_what_exists() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert "HEALTHCHECK" in text
    assert "-c requirements.lock" in text
    for source in re.findall(r"^COPY (?!--from)(?:--\S+ )*(.+) \S+$", text, re.M):
        for name in source.split():
            assert (ROOT / name).exists(), f"Dockerfile copies {name}, which is not in the repo"


def test_kubernetes_objects_point_at_each_other() -> None:
    objects = manifests()
    deployment = objects["Deployment/insitechart"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for name in ("Service/insitechart", "Service/insitechart-pods"):
        assert objects[name]["spec"]["selector"].items() <= labels.items()
    assert objects["PodDisruptionBudget/insitechart"]["spec"]["selector"][
        "matchLabels"
    ].items() <= (labels.items())
    hpa = objects["HorizontalPodAutoscaler/insitechart"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "insitechart",
    }
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    container = pod_spec(deployment)["containers"][0]
    assert container["resources"]["requests"]["cpu"]  # the HPA's utilisation needs a request
    for source in container["envFrom"]:
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        ref = source.get("configMapRef") or source["secretRef"]
        assert f"{kind}/{ref['name']}" in objects


def test_haproxy_accepts_its_configuration(request: pytest.FixtureRequest) -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        if os.environ.get("INSITECHART_REQUIRE_SERVICES"):
            pytest.fail("haproxy is not installed (.ci/run installs it)", pytrace=False)
        pytest.skip("haproxy is not installed")
    env = {**os.environ, **compose()["services"]["haproxy"]["environment"]}
    env["APP_HOST"] = "localhost"
    checked = subprocess.run(
        [haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
