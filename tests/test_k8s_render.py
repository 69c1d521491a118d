"""The Kustomize overlays render to the objects the README's deploy section promises."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.k8s import (
    OVERLAYS,
    REPO,
    Manifest,
    container,
    one,
    pod_spec,
    render,
    settings,
    tool,
)

SECRETS_DIR = "/etc/habit-notifier/secrets"
TEMPLATES_DIR = "/etc/habit-notifier/templates"
SECRET_KEYS = {"DB_PASSWORD", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"}


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[Manifest]:
    """Each overlay, rendered once per module."""
    return render(REPO / "k8s" / "overlays" / request.param)


def test_there_are_staging_and_prod_overlays() -> None:
    """Both environments the justfile knows have an overlay."""
    assert OVERLAYS == ["prod", "staging"]


class TestObjects:
    def test_renders_exactly_the_promised_objects(
        self, rendered: list[Manifest]
    ) -> None:
        """An overlay renders a namespace, account, policy, 2 ConfigMaps, a CronJob."""
        kinds = sorted(doc["kind"] for doc in rendered)

        assert kinds == [
            "ConfigMap",
            "ConfigMap",
            "CronJob",
            "Namespace",
            "NetworkPolicy",
            "ServiceAccount",
        ]

    def test_everything_lives_in_the_overlay_namespace(
        self, rendered: list[Manifest]
    ) -> None:
        """Namespaced objects sit in the Namespace object the overlay creates."""
        namespace = one(rendered, "Namespace")["metadata"]["name"]

        assert namespace.startswith("habit-notifier-")
        for doc in rendered:
            if doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] == namespace

    def test_namespace_enforces_restricted_pod_security(
        self, rendered: list[Manifest]
    ) -> None:
        """The namespace enforces, audits and warns at the restricted level."""
        labels = one(rendered, "Namespace")["metadata"]["labels"]

        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"

    def test_every_object_and_the_pod_carry_the_app_labels(
        self, rendered: list[Manifest]
    ) -> None:
        """`app` and the app.kubernetes.io set label every object and the pods."""
        cronjob = one(rendered, "CronJob")
        pod_labels = cronjob["spec"]["jobTemplate"]["spec"]["template"]["metadata"][
            "labels"
        ]

        for labels in [doc["metadata"]["labels"] for doc in rendered] + [pod_labels]:
            assert labels["app"] == "habit-notifier"
            assert labels["app.kubernetes.io/name"] == "habit-notifier"
            assert labels["app.kubernetes.io/managed-by"] == "kustomize"

    def test_service_account_has_no_token(self, rendered: list[Manifest]) -> None:
        """Neither the account nor the pod mounts a Kubernetes API token."""
        account = one(rendered, "ServiceAccount")

        assert account["automountServiceAccountToken"] is False
        assert pod_spec(rendered)["serviceAccountName"] == "habit-notifier"
        assert pod_spec(rendered)["automountServiceAccountToken"] is False


class TestPodSecurity:
    def test_pod_security_context_is_restricted(self, rendered: list[Manifest]) -> None:
        """The pod runs as a fixed non-root user with the default seccomp profile."""
        context = pod_spec(rendered)["securityContext"]

        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] == 10001
        assert context["runAsGroup"] == 10001
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}

    def test_container_security_context_is_restricted(
        self, rendered: list[Manifest]
    ) -> None:
        """The container cannot escalate, has no capabilities and a read-only root."""
        context = container(rendered)["securityContext"]

        assert context["allowPrivilegeEscalation"] is False
        assert context["privileged"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["runAsNonRoot"] is True

    def test_tmp_is_the_only_writable_mount(self, rendered: list[Manifest]) -> None:
        """/tmp is an emptyDir; every other mount is read-only."""
        mounts = {m["mountPath"]: m for m in container(rendered)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(rendered)["volumes"]}

        assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
        for path, mount in mounts.items():
            if path != "/tmp":
                assert mount["readOnly"] is True

    def test_resources_requests_and_limits(self, rendered: list[Manifest]) -> None:
        """Requests are 64Mi/100m and limits 256Mi/500m."""
        resources = container(rendered)["resources"]

        assert resources["requests"] == {"memory": "64Mi", "cpu": "100m"}
        assert resources["limits"] == {"memory": "256Mi", "cpu": "500m"}


class TestJobBehaviour:
    def test_schedule_is_hourly_in_an_explicit_time_zone(
        self, rendered: list[Manifest]
    ) -> None:
        """The CronJob fires once an hour and names its time zone."""
        spec = one(rendered, "CronJob")["spec"]

        assert re.fullmatch(r"[0-5]?\d \* \* \* \*", spec["schedule"])
        assert spec["timeZone"] == "Etc/UTC"

    def test_runs_never_overlap_and_history_is_short(
        self, rendered: list[Manifest]
    ) -> None:
        """Forbid overlap, a starting deadline, and keep three of each outcome."""
        spec = one(rendered, "CronJob")["spec"]

        assert spec["concurrencyPolicy"] == "Forbid"
        assert 0 < spec["startingDeadlineSeconds"] < 3600
        assert spec["successfulJobsHistoryLimit"] == 3
        assert spec["failedJobsHistoryLimit"] == 3

    def test_deadlines_fit_inside_the_hour(self, rendered: list[Manifest]) -> None:
        """The job stops itself before Kubernetes does, and both within the hour."""
        job = one(rendered, "CronJob")["spec"]["jobTemplate"]["spec"]
        run_deadline = int(settings(rendered)["RUN_DEADLINE_SECONDS"])

        assert job["activeDeadlineSeconds"] < 3600
        assert run_deadline < job["activeDeadlineSeconds"]
        assert pod_spec(rendered)["restartPolicy"] == "Never"
        assert 0 < job["backoffLimit"] <= 3

    def test_pod_failure_policy_fails_on_config_errors_and_ignores_disruption(
        self, rendered: list[Manifest]
    ) -> None:
        """Exit 2 or 3 fails the job at once; a node drain does not count as a try."""
        rules = one(rendered, "CronJob")["spec"]["jobTemplate"]["spec"][
            "podFailurePolicy"
        ]["rules"]

        assert rules[0]["action"] == "FailJob"
        assert rules[0]["onExitCodes"] == {
            "containerName": "notifier",
            "operator": "In",
            "values": [2, 3],
        }
        assert rules[1]["action"] == "Ignore"
        assert rules[1]["onPodConditions"] == [
            {"type": "DisruptionTarget", "status": "True"}
        ]

    def test_liveness_probe_reads_the_heartbeat(self, rendered: list[Manifest]) -> None:
        """A hung run is caught by `habit-notifier health` on a file under /tmp."""
        probe = container(rendered)["livenessProbe"]["exec"]["command"]

        assert probe[:3] == ["habit-notifier", "health", "--max-age"]
        assert int(probe[3]) >= 60
        assert settings(rendered)["HEARTBEAT_FILE"] == "/tmp/heartbeat"

    def test_container_runs_the_job(self, rendered: list[Manifest]) -> None:
        """The container runs `habit-notifier run` with the settings ConfigMap."""
        notifier = container(rendered)
        settings_name = one(rendered, "ConfigMap", "habit-notifier-settings-")[
            "metadata"
        ]["name"]

        assert notifier["args"] == ["run"]
        assert notifier["envFrom"] == [{"configMapRef": {"name": settings_name}}]


class TestConfigAndSecrets:
    def test_secrets_are_read_from_files_of_a_mounted_secret(
        self, rendered: list[Manifest]
    ) -> None:
        """Each secret setting is a *_FILE path into the mounted Secret."""
        data = settings(rendered)
        volumes = {v["name"]: v for v in pod_spec(rendered)["volumes"]}
        mounts = {m["name"]: m for m in container(rendered)["volumeMounts"]}

        assert volumes["secrets"]["secret"]["secretName"] == "habit-notifier-secrets"
        assert mounts["secrets"]["mountPath"] == SECRETS_DIR
        for key in SECRET_KEYS:
            assert data[f"{key}_FILE"] == f"{SECRETS_DIR}/{key}"

    def test_no_secret_value_is_in_the_settings(self, rendered: list[Manifest]) -> None:
        """The ConfigMap holds no password, token or database URL."""
        data = settings(rendered)

        assert not SECRET_KEYS & data.keys()
        assert "DATABASE_URL" not in data
        assert not any(doc["kind"] == "Secret" for doc in rendered)

    def test_templates_config_map_holds_every_template_file(
        self, rendered: list[Manifest]
    ) -> None:
        """The templates ConfigMap has a hash suffix and one key per templates/ file."""
        config_map = one(rendered, "ConfigMap", "habit-notifier-templates-")
        files = {p.name: p.read_text() for p in (REPO / "templates").iterdir()}

        assert re.fullmatch(
            r"habit-notifier-templates-[a-z0-9]{10}", config_map["metadata"]["name"]
        )
        assert config_map["data"] == files

    def test_templates_are_mounted_at_templates_dir(
        self, rendered: list[Manifest]
    ) -> None:
        """TEMPLATES_DIR points at the mounted templates ConfigMap."""
        name = one(rendered, "ConfigMap", "habit-notifier-templates-")["metadata"][
            "name"
        ]
        volumes = {v["name"]: v for v in pod_spec(rendered)["volumes"]}
        mounts = {m["name"]: m for m in container(rendered)["volumeMounts"]}

        assert volumes["templates"]["configMap"]["name"] == name
        assert mounts["templates"]["mountPath"] == TEMPLATES_DIR
        assert settings(rendered)["TEMPLATES_DIR"] == TEMPLATES_DIR


class TestNetworkPolicy:
    def test_egress_is_dns_mysql_and_https_only(self, rendered: list[Manifest]) -> None:
        """The pod may reach DNS, MySQL and HTTPS, and nothing may reach the pod."""
        policy = one(rendered, "NetworkPolicy")["spec"]
        ports = {
            (port["protocol"], port["port"])
            for rule in policy["egress"]
            for port in rule["ports"]
        }

        assert policy["policyTypes"] == ["Ingress", "Egress"]
        assert "ingress" not in policy
        assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 3306), ("TCP", 443)}
        assert all(set(rule) == {"ports"} for rule in policy["egress"])

    def test_policy_selects_the_job_pods(self, rendered: list[Manifest]) -> None:
        """The policy's selector matches the labels of the CronJob's pods."""
        selector = one(rendered, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"]
        pod_labels = one(rendered, "CronJob")["spec"]["jobTemplate"]["spec"][
            "template"
        ]["metadata"]["labels"]

        assert selector.items() <= pod_labels.items()


class TestEnvironments:
    def test_staging_texts_nobody(self) -> None:
        """Staging runs with DRY_RUN=true; prod sends for real."""
        staging = render(REPO / "k8s" / "overlays" / "staging")
        prod = render(REPO / "k8s" / "overlays" / "prod")

        assert settings(staging)["DRY_RUN"] == "true"
        assert settings(prod)["DRY_RUN"] == "false"

    @pytest.mark.parametrize("env", OVERLAYS)
    def test_overlay_names_its_own_image_and_namespace(self, env: str) -> None:
        """Each overlay sets its environment's image repository and namespace."""
        docs = render(REPO / "k8s" / "overlays" / env)

        assert container(docs)["image"] == (
            f"registry.example.com/{env}/habit-notifier:{env}"
        )
        assert one(docs, "Namespace")["metadata"]["name"] == f"habit-notifier-{env}"

    @pytest.mark.parametrize("component", ["alerts", "indexed-shards"])
    def test_components_render_on_an_overlay(self, component: str) -> None:
        """Each optional component applies cleanly on top of the staging overlay."""
        workdir = REPO / "build"
        workdir.mkdir(exist_ok=True)
        # Kustomize wants relative paths, so the kustomization sits two levels down.
        target = Path(tempfile.mkdtemp(prefix="render-test.", dir=workdir))
        (target / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\n"
            "resources: [../../k8s/overlays/staging]\n"
            f"components: [../../k8s/components/{component}]\n"
        )
        try:
            docs = render(target)
        finally:
            shutil.rmtree(target)

        if component == "alerts":
            rule = one(docs, "PrometheusRule")
            alerts = {r["alert"] for r in rule["spec"]["groups"][0]["rules"]}
            assert alerts == {"HabitNotifierRunFailed", "HabitNotifierNoRecentSuccess"}
        else:
            job = one(docs, "CronJob")["spec"]["jobTemplate"]["spec"]
            assert job["completionMode"] == "Indexed"
            assert job["completions"] == job["parallelism"] == 3
            assert settings(docs)["SHARD_COUNT"] == "3"


def test_template_edit_changes_only_the_templates_config_map_name(
    tmp_path: Path,
) -> None:
    """A template edit renames its ConfigMap and the reference; nothing else moves."""
    repo_copy = tmp_path / "repo"
    for part in ("k8s", "templates"):
        shutil.copytree(REPO / part, repo_copy / part)
    before = render(repo_copy / "k8s" / "overlays" / "prod")
    template = repo_copy / "templates" / "no_logs.txt.j2"
    template.write_text(template.read_text() + "Reply STOP to opt out.\n")

    after = render(repo_copy / "k8s" / "overlays" / "prod")
    old = one(before, "ConfigMap", "habit-notifier-templates-")["metadata"]["name"]
    new = one(after, "ConfigMap", "habit-notifier-templates-")["metadata"]["name"]

    assert old != new
    changed = [
        (a["kind"], a["metadata"]["name"])
        for a, b in zip(before, after, strict=True)
        if a != b
    ]
    assert changed == [("ConfigMap", old), ("CronJob", "habit-notifier")]
    undone = undo_rename(after, old, new)
    data_before = one(before, "ConfigMap", old)["data"]
    data_after = one(undone, "ConfigMap", old)["data"]
    assert [k for k in data_before if data_before[k] != data_after[k]] == [
        "no_logs.txt.j2"
    ]
    one(undone, "ConfigMap", old)["data"] = data_before
    assert undone == before


def undo_rename(after: list[Manifest], old: str, new: str) -> list[Manifest]:
    """Return a copy of AFTER with the templates ConfigMap renamed back to OLD."""
    undone = copy.deepcopy(after)
    for doc in undone:
        if doc["kind"] == "CronJob":
            volumes = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
            for volume in volumes:
                if volume.get("configMap", {}).get("name") == new:
                    volume["configMap"]["name"] = old
        if doc["metadata"]["name"] == new:
            doc["metadata"]["name"] = old
    return undone


def test_validate_passes() -> None:
    """`just validate` (schemas, checkov, hadolint, yamllint) passes on the repo."""
    result = subprocess.run(
        [tool("just"), "validate"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "validate: all checks passed" in result.stdout
    assert "Failed checks: 0" in result.stdout
    assert "Kubernetes 1.31.0" in result.stdout
    assert "Kubernetes 1.37.0" in result.stdout


def test_template_files_in_git_match_the_generator() -> None:
    """Every file under templates/ is listed in the base kustomization, and no other."""
    text = (REPO / "k8s" / "base" / "kustomization.yaml").read_text()
    listed = set(re.findall(r"\.\./\.\./templates/(\S+)", text))
    tracked = subprocess.run(
        ["git", "ls-files", "templates"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    assert listed == {Path(name).name for name in tracked}
