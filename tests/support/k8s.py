"""Helpers for the deploy tests: the repo's own tools and rendered manifests."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

try:
    import yaml
except ModuleNotFoundError as error:
    raise RuntimeError(
        "PyYAML is missing: run `bash scripts/install-tools.sh`"
    ) from error

REPO = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO / ".tools" / "bin"
OVERLAYS = sorted(path.name for path in (REPO / "k8s" / "overlays").iterdir())

Manifest = dict[str, Any]


def tool(name: str) -> Path:
    """Return the repo-installed tool NAME, failing the test when it is missing."""
    path = TOOLS_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `bash scripts/install-tools.sh`")
    return path


def render(target: Path) -> list[Manifest]:
    """Render a kustomization directory with the repo's kubectl and parse it."""
    result = subprocess.run(
        [
            tool("kubectl"),
            "kustomize",
            "--load-restrictor=LoadRestrictionsNone",
            target,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def parse_all(text: str) -> list[Manifest]:
    """Parse a multi-document YAML stream."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def one(docs: list[Manifest], kind: str, name_prefix: str = "") -> Manifest:
    """Return the single object of KIND whose name starts with NAME_PREFIX."""
    found = [
        doc
        for doc in docs
        if doc["kind"] == kind and doc["metadata"]["name"].startswith(name_prefix)
    ]
    assert len(found) == 1, f"expected one {kind} {name_prefix!r}, got {len(found)}"
    return found[0]


def pod_spec(docs: list[Manifest]) -> Manifest:
    """Return the pod spec inside the rendered CronJob."""
    cronjob = one(docs, "CronJob")
    spec: Manifest = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def container(docs: list[Manifest]) -> Manifest:
    """Return the notifier container of the rendered CronJob."""
    containers = pod_spec(docs)["containers"]
    assert [c["name"] for c in containers] == ["notifier"]
    first: Manifest = containers[0]
    return first


def settings(docs: list[Manifest]) -> dict[str, str]:
    """Return the data of the rendered settings ConfigMap."""
    data: dict[str, str] = one(docs, "ConfigMap", "habit-notifier-settings-")["data"]
    return data
