"""The image's inputs agree with the package metadata and the manifests."""

from __future__ import annotations

import re
import tomllib

from tests.support.k8s import REPO


def locked_names(lock: str) -> set[str]:
    """The normalised project names pinned in a lock file."""
    return {
        re.sub(r"[-_.]+", "-", match).lower()
        for match in re.findall(r"^([A-Za-z0-9_.-]+)==", lock, flags=re.MULTILINE)
    }


def test_lock_pins_every_dependency_of_the_package() -> None:
    """requirements.lock pins each dependency of pyproject.toml (see `just lock`)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {
        re.sub(r"[-_.]+", "-", re.split(r"[<>=!~;\[ ]", dep)[0]).lower()
        for dep in project["dependencies"]
    }

    missing = wanted - locked_names((REPO / "requirements.lock").read_text())

    assert missing == set(), f"run `just lock`: {sorted(missing)} not locked"


def test_every_locked_requirement_carries_a_hash() -> None:
    """Each pin in both lock files is followed by at least one sha256 hash."""
    for name in ("requirements.lock", "requirements-build.lock"):
        lock = (REPO / name).read_text()
        pins = re.findall(
            r"^\S+==\S+ \\\n((?:\s+--hash=sha256:\w+ ?\\?\n)+)", lock, re.M
        )

        assert len(pins) == len(locked_names(lock)) > 0


def test_image_user_is_the_user_the_pod_runs_as() -> None:
    """The Dockerfile's fixed UID is the runAsUser of the CronJob."""
    dockerfile = (REPO / "Dockerfile").read_text()
    cronjob = (REPO / "k8s" / "base" / "cronjob.yaml").read_text()

    uid = re.search(r"^ARG APP_UID=(\d+)$", dockerfile, re.M)

    assert uid is not None
    assert "USER ${APP_UID}:${APP_UID}" in dockerfile
    assert f"runAsUser: {uid.group(1)}" in cronjob
