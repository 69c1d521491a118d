"""The justfile's cluster recipes, run end to end in a throwaway copy of the repo.

There is no container registry and no Kubernetes cluster here, so `buildah` and
`kubectl` are replaced on PATH by recording stand-ins. The stand-in kubectl hands
`kustomize` and `create --dry-run=client` (both local) to the repo's real kubectl.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support.k8s import REPO, TOOLS_BIN, container, one, parse_all, tool

STAND_IN = textwrap.dedent(
    '''\
    #!{python}
    import hashlib, json, os, subprocess, sys

    JOB_FROM_CRONJOB = """
    apiVersion: batch/v1
    kind: Job
    metadata: {{name: habit-notifier-manual}}
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{{name: notifier, image: x, args: [run]}}]
    """

    name = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    local = args[:1] == ["kustomize"] or "--local" in args
    if name == "kubectl" and (local or args[:2] == ["create", "secret"]):
        os.execv(os.environ["REAL_KUBECTL"], ["kubectl", *args])
    record = {{"tool": name, "args": args}}
    if name == "kubectl" and "--filename" in args:
        source = args[args.index("--filename") + 1]
        record["applied"] = sys.stdin.read() if source == "-" else open(source).read()
    if name == "kubectl" and "--from=cronjob/habit-notifier" in args:
        print(JOB_FROM_CRONJOB)
    if name == "buildah" and "push" in args:
        digest = "sha256:" + hashlib.sha256(" ".join(args).encode()).hexdigest()
        with open(args[args.index("--digestfile") + 1], "w") as out:
            out.write(digest)
        record["digest"] = digest
    with open(os.environ["RECORD_FILE"], "a") as log:
        log.write(json.dumps(record) + "\\n")
    if name == "kubectl" and "get" in args:
        print("NAME             SCHEDULE    SUSPEND   ACTIVE")
        print("habit-notifier   5 * * * *   False     0")
    '''
)


class Sandbox:
    """A committed copy of the repo with stand-in buildah and kubectl on PATH."""

    def __init__(self, root: Path) -> None:
        self.repo = root / "repo"
        self.records = root / "records.jsonl"
        bin_dir = root / "bin"
        bin_dir.mkdir()
        for name in ("buildah", "kubectl"):
            stand_in = bin_dir / name
            stand_in.write_text(STAND_IN.format(python=shutil.which("python3")))
            stand_in.chmod(0o755)
        self.env = {
            "PATH": f"{bin_dir}:{TOOLS_BIN}:/usr/bin:/bin",
            "HOME": str(root),
            "RECORD_FILE": str(self.records),
            "REAL_KUBECTL": str(tool("kubectl")),
            "WHEELHOUSE": "none",
        }
        self._copy_repo()

    def _copy_repo(self) -> None:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\0")
        for name in filter(None, listed):
            source = REPO / name
            if source.is_file():
                target = self.repo / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        self.git("init", "--quiet")
        self.git("add", "--all")
        self.git("commit", "--quiet", "--message", "sandbox")

    def git(self, *args: str) -> str:
        """Run git in the sandbox repo and return its output."""
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
            cwd=self.repo,
            capture_output=True,
            text=True,
            check=True,
            env={**self.env, "GIT_CONFIG_GLOBAL": "/dev/null"},
        ).stdout

    def just(self, *args: str, answer: str = "") -> subprocess.CompletedProcess[str]:
        """Run a just recipe in the sandbox, typing ANSWER at any prompt."""
        return subprocess.run(
            [str(tool("just")), *args],
            cwd=self.repo,
            input=answer,
            capture_output=True,
            text=True,
            check=False,
            env=self.env,
        )

    def calls(self, name: str) -> list[dict[str, Any]]:
        """The recorded invocations of stand-in NAME, in order."""
        if not self.records.exists():
            return []
        lines = self.records.read_text().splitlines()
        return [c for c in map(json.loads, lines) if c["tool"] == name]

    def applied(self) -> list[dict[str, Any]]:
        """The kubectl apply calls."""
        return [c for c in self.calls("kubectl") if "apply" in c["args"]]


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    """A fresh sandbox per test."""
    return Sandbox(tmp_path)


def commit_tag(sandbox: Sandbox) -> str:
    """The image tag `just build` derives from the sandbox's HEAD."""
    return sandbox.git("rev-parse", "--short=12", "HEAD").strip()


class TestDeploy:
    def test_staging_builds_pushes_pins_and_applies(self, sandbox: Sandbox) -> None:
        """`deploy staging` applies the pushed digest to the staging context."""
        result = sandbox.just("deploy", "staging")

        assert result.returncode == 0, result.stderr
        tag = commit_tag(sandbox)
        build, push = sandbox.calls("buildah")
        assert build["args"][build["args"].index("--tag") + 1] == (
            f"localhost/habit-notifier:{tag}"
        )
        assert "--build-context" not in build["args"]
        assert push["args"][-1] == (
            f"docker://registry.example.com/staging/habit-notifier:{tag}"
        )
        (apply,) = sandbox.applied()
        assert apply["args"][:2] == ["--context", "habit-staging"]
        docs = parse_all(apply["applied"])
        assert container(docs)["image"] == (
            f"registry.example.com/staging/habit-notifier@{push['digest']}"
        )
        assert one(docs, "CronJob")["metadata"]["namespace"] == (
            "habit-notifier-staging"
        )
        assert "habit-notifier   5 * * * *" in result.stdout
        assert sandbox.git("status", "--porcelain") == ""

    def test_prod_with_confirmation_applies_to_prod(self, sandbox: Sandbox) -> None:
        """`deploy prod` answered with "prod" applies the prod overlay, pinned."""
        result = sandbox.just("deploy", "prod", answer="prod\n")

        assert result.returncode == 0, result.stderr
        push = sandbox.calls("buildah")[1]
        (apply,) = sandbox.applied()
        assert apply["args"][:2] == ["--context", "habit-prod"]
        docs = parse_all(apply["applied"])
        assert container(docs)["image"] == (
            f"registry.example.com/prod/habit-notifier@{push['digest']}"
        )
        assert one(docs, "ConfigMap", "habit-notifier-settings-")["data"][
            "DRY_RUN"
        ] == ("false")
        get = sandbox.calls("kubectl")[-1]
        assert get["args"] == [
            "--context",
            "habit-prod",
            "--namespace",
            "habit-notifier-prod",
            "get",
            "cronjob",
            "habit-notifier",
            "--output",
            "wide",
        ]
        assert sandbox.git("status", "--porcelain") == ""

    @pytest.mark.parametrize("answer", ["", "yes\n", "staging\n"])
    def test_prod_without_confirmation_applies_nothing(
        self, sandbox: Sandbox, answer: str
    ) -> None:
        """Any answer but "prod" (or none) stops before kubectl touches prod."""
        result = sandbox.just("deploy", "prod", answer=answer)

        assert result.returncode != 0
        assert "nothing was changed in prod" in result.stderr
        assert sandbox.applied() == []
        assert sandbox.git("status", "--porcelain") == ""

    def test_prod_refuses_a_dirty_tree(self, sandbox: Sandbox) -> None:
        """An uncommitted change stops a prod deploy before anything is built."""
        (sandbox.repo / "templates" / "no_logs.txt.j2").write_text("changed\n")

        result = sandbox.just("deploy", "prod", answer="prod\n")

        assert result.returncode != 0
        assert "dirty working tree" in result.stderr
        assert sandbox.calls("buildah") == []
        assert sandbox.calls("kubectl") == []

    def test_settings_come_from_dotenv(self, sandbox: Sandbox) -> None:
        """A git-ignored .env overrides the registry and context, tree stays clean."""
        (sandbox.repo / ".env").write_text(
            "STAGING_REGISTRY=registry.internal:5000/habits\n"
            "STAGING_CONTEXT=kind-staging\n"
        )

        result = sandbox.just("deploy", "staging")

        assert result.returncode == 0, result.stderr
        push = sandbox.calls("buildah")[1]
        assert push["args"][-1].startswith(
            "docker://registry.internal:5000/habits/habit-notifier:"
        )
        (apply,) = sandbox.applied()
        assert apply["args"][:2] == ["--context", "kind-staging"]
        assert container(parse_all(apply["applied"]))["image"] == (
            f"registry.internal:5000/habits/habit-notifier@{push['digest']}"
        )
        assert sandbox.git("status", "--porcelain") == ""


class TestEnvironmentGuard:
    @pytest.mark.parametrize("recipe", ["deploy", "render", "secret", "run-now"])
    def test_unknown_environment_is_refused(
        self, sandbox: Sandbox, recipe: str
    ) -> None:
        """An ENV without an overlay stops with the list of real ones."""
        result = sandbox.just(recipe, "qa")

        assert result.returncode == 2
        assert "unknown ENV 'qa': choose one of: prod, staging" in result.stderr
        assert sandbox.calls("kubectl") == []


class TestDayToDay:
    def test_secret_is_built_from_the_env_file(self, sandbox: Sandbox) -> None:
        """`secret staging` applies the file's values and prints none of them."""
        values = {
            "DB_PASSWORD": "s3cret-db-pass",
            "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
            "TWILIO_AUTH_TOKEN": hashlib.sha256(b"token").hexdigest()[:32],
        }
        (sandbox.repo / "secrets").mkdir()
        (sandbox.repo / "secrets" / "staging.env").write_text(
            "".join(f"{key}={value}\n" for key, value in values.items())
        )

        result = sandbox.just("secret", "staging")

        assert result.returncode == 0, result.stderr
        (apply,) = sandbox.applied()
        assert apply["args"][:2] == ["--context", "habit-staging"]
        secret = one(parse_all(apply["applied"]), "Secret")
        assert secret["metadata"]["name"] == "habit-notifier-secrets"
        assert secret["metadata"]["namespace"] == "habit-notifier-staging"
        assert set(secret["data"]) == set(values)
        for value in values.values():
            assert value not in result.stdout + result.stderr
        assert sandbox.git("status", "--porcelain") == ""

    def test_secret_with_a_missing_key_is_refused(self, sandbox: Sandbox) -> None:
        """An env file without the Twilio token applies nothing."""
        (sandbox.repo / "secrets").mkdir()
        (sandbox.repo / "secrets" / "staging.env").write_text(
            "DB_PASSWORD=x\nTWILIO_ACCOUNT_SID=y\n"
        )

        result = sandbox.just("secret", "staging")

        assert result.returncode != 0
        assert "no value for TWILIO_AUTH_TOKEN" in result.stderr
        assert sandbox.applied() == []

    def test_db_init_runs_the_cronjob_pod_with_db_init(self, sandbox: Sandbox) -> None:
        """`db-init staging` creates a Job from the CronJob whose args are db init."""
        result = sandbox.just("db-init", "staging")

        assert result.returncode == 0, result.stderr
        create = next(c for c in sandbox.calls("kubectl") if "applied" in c)
        assert create["args"][:5] == [
            "--context",
            "habit-staging",
            "--namespace",
            "habit-notifier-staging",
            "create",
        ]
        job = one(parse_all(create["applied"]), "Job")
        assert job["spec"]["template"]["spec"]["containers"][0]["args"] == [
            "db",
            "init",
        ]
        assert sandbox.calls("kubectl")[-1]["args"][4] == "logs"

    def test_run_now_creates_a_job_from_the_cronjob(self, sandbox: Sandbox) -> None:
        """`run-now staging` creates a one-off Job in the staging namespace."""
        result = sandbox.just("run-now", "staging")

        assert result.returncode == 0, result.stderr
        (call,) = sandbox.calls("kubectl")
        assert call["args"][:6] == [
            "--context",
            "habit-staging",
            "--namespace",
            "habit-notifier-staging",
            "create",
            "job",
        ]
        assert call["args"][6] == "--from=cronjob/habit-notifier"

    @pytest.mark.parametrize(
        ("recipe", "suspend"), [("suspend", "true"), ("resume", "false")]
    )
    def test_suspend_and_resume_patch_the_cronjob(
        self, sandbox: Sandbox, recipe: str, suspend: str
    ) -> None:
        """suspend/resume set spec.suspend, in prod only after confirmation."""
        refused = sandbox.just(recipe, "prod")
        assert refused.returncode != 0
        assert sandbox.calls("kubectl") == []

        result = sandbox.just(recipe, "prod", answer="prod\n")

        assert result.returncode == 0, result.stderr
        (call,) = sandbox.calls("kubectl")
        assert call["args"][:4] == [
            "--context",
            "habit-prod",
            "--namespace",
            "habit-notifier-prod",
        ]
        assert call["args"][-1] == f'{{"spec":{{"suspend":{suspend}}}}}'


class TestSettings:
    @pytest.mark.parametrize("env", ["staging", "prod"])
    def test_default_registry_matches_the_overlay_image(self, env: str) -> None:
        """The justfile's default registry is the one the overlay's image names."""
        result = subprocess.run(
            [str(tool("just")), "--evaluate", f"{env}_registry"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            env={k: v for k, v in os.environ.items() if not k.endswith("_REGISTRY")},
        )

        assert result.returncode == 0, result.stderr
        overlay = (REPO / "k8s" / "overlays" / env / "kustomization.yaml").read_text()
        assert f"newName: {result.stdout}/habit-notifier\n" in overlay
