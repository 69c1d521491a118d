# habit-notifier: run, check, build and deploy the SMS nudge CronJob.
# `just` lists the recipes. First time here: `bash scripts/install-tools.sh`.

set dotenv-load
set shell := ["bash", "-euo", "pipefail", "-c"]

# Settings: override any of them in the environment or in a git-ignored .env file.

# Where each environment's image is pushed and which kube context deploys it.
staging_registry := env("STAGING_REGISTRY", "registry.example.com/staging")
prod_registry := env("PROD_REGISTRY", "registry.example.com/prod")
staging_context := env("STAGING_CONTEXT", "habit-staging")
prod_context := env("PROD_CONTEXT", "habit-prod")
image_name := env("IMAGE_NAME", "habit-notifier")

# Image build: base image, builder flags, and the host-side wheel cache.
# WHEELHOUSE=none lets the builder fetch the locked wheels from PyPI itself.
base_image := env("BASE_IMAGE", "python:3.11-slim-bookworm")
buildah_flags := env("BUILDAH_FLAGS", "")
wheelhouse := env("WHEELHOUSE", "build/wheelhouse")
image_tag := env("IMAGE_TAG", `git describe --always --dirty --abbrev=12 2>/dev/null || echo dev`)

# The Kubernetes versions `validate` checks against: the supported range.
oldest_kubernetes := "1.31.0"
newest_kubernetes := "1.37.0"

# Tools installed by scripts/install-tools.sh come first, before anything on the host.
export PATH := justfile_directory() / ".tools/bin" + ":" + env("PATH")

local_image := "localhost/" + image_name + ":" + image_tag
overlays := "k8s/overlays"
kustomize := "kubectl kustomize --load-restrictor LoadRestrictionsNone"

# List the recipes.
default:
    @just --list --unsorted

# Run the test suite (arguments go to pytest).
test *ARGS:
    python3 -m pytest {{ ARGS }}

# Check formatting, lint and types of the Python code.
lint:
    ruff format --check .
    ruff check .
    mypy

# Show the texts the job would send, on a throwaway demo database.
demo:
    python3 -m notifier demo

# Preview today's texts for real users, sending nothing (needs DB settings).
preview *ARGS:
    python3 -m notifier preview {{ ARGS }}

# Run the benchmarks (arguments go to `python -m bench`).
bench *ARGS:
    python3 -m bench {{ ARGS }}

# Build the image as localhost/IMAGE_NAME:IMAGE_TAG.
build:
    #!/usr/bin/env bash
    set -euo pipefail
    offline=()
    if [[ "{{ wheelhouse }}" != none ]]; then
        python3 -m pip download --quiet --disable-pip-version-check \
            --only-binary=:all: --no-deps --require-hashes --dest "{{ wheelhouse }}" \
            -r requirements.lock -r requirements-build.lock
        offline=(--build-context "wheelhouse={{ wheelhouse }}"
                 --build-arg PIP_INSTALL_OPTIONS=--no-index)
    fi
    buildah {{ buildah_flags }} bud --build-arg "BASE_IMAGE={{ base_image }}" \
        "${offline[@]}" --tag "{{ local_image }}" .
    echo "built {{ local_image }}"

# Push the built image to ENV's registry and print its digest.
push ENV: (_check-env ENV)
    #!/usr/bin/env bash
    set -euo pipefail
    remote="$(just _registry {{ ENV }})/{{ image_name }}:{{ image_tag }}"
    mkdir -p build
    buildah {{ buildah_flags }} push --digestfile "build/{{ ENV }}.digest" \
        "{{ local_image }}" "docker://$remote"
    echo "pushed $remote@$(cat "build/{{ ENV }}.digest")"

# Print ENV's manifests as committed (image by tag).
render ENV: (_check-env ENV)
    {{ kustomize }} {{ overlays }}/{{ ENV }}

# Render, schema-check and lint every overlay, component and the Dockerfile.
validate: _check-templates
    #!/usr/bin/env bash
    set -euo pipefail
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
    zeros="sha256:$(printf '0%.0s' {1..64})"
    for dir in {{ overlays }}/*/; do
        env="$(basename "$dir")"
        image="$(just _overlay-image "$env")"
        just _render-pinned "$env" "$image@$zeros" > "$out/$env.yaml"
        just _render-pinned "$env" "$image@$zeros" k8s/components/* \
            > "$out/$env-with-components.yaml"
    done
    for version in {{ oldest_kubernetes }} {{ newest_kubernetes }}; do
        echo "== kubernetes-validate --strict, Kubernetes $version"
        kubernetes-validate --strict --quiet --kubernetes-version "$version" "$out"/*.yaml
    done
    echo "== checkov (offline)"
    checkov --config-file .checkov.yaml --directory "$out"
    echo "== hadolint"
    hadolint Dockerfile
    echo "== yamllint"
    yamllint --strict .
    echo "validate: all checks passed"

# Show what `deploy ENV` would change in the cluster (keeps the running image).
diff ENV: (_check-env ENV)
    #!/usr/bin/env bash
    set -euo pipefail
    context="$(just _context {{ ENV }})"
    running="$(kubectl --context "$context" \
        --namespace "$(just _overlay-namespace {{ ENV }})" get cronjob habit-notifier \
        --ignore-not-found --output 'jsonpath={..containers[0].image}')"
    image="${running:-$(just _overlay-image {{ ENV }}):unreleased}"
    status=0
    just _render-pinned {{ ENV }} "$image" \
        | kubectl --context "$context" diff --filename - || status=$?
    # kubectl diff exits 1 when there are differences, >1 on errors.
    if ((status > 1)); then exit "$status"; fi

# Build, push, pin the pushed digest and apply ENV; prod asks first.
deploy ENV: (_check-env ENV) _check-templates
    #!/usr/bin/env bash
    set -euo pipefail
    if [[ "{{ ENV }}" == prod && -n "$(git status --porcelain)" ]]; then
        echo "deploy: refusing to deploy prod from a dirty working tree" >&2
        exit 1
    fi
    context="$(just _context {{ ENV }})"
    just build
    just push {{ ENV }}
    pinned="$(just _registry {{ ENV }})/{{ image_name }}@$(cat "build/{{ ENV }}.digest")"
    rendered="$(mktemp)"
    trap 'rm -f "$rendered"' EXIT
    just _render-pinned {{ ENV }} "$pinned" > "$rendered"
    just _confirm {{ ENV }} "apply $pinned to context $context"
    kubectl --context "$context" apply --filename "$rendered"
    kubectl --context "$context" \
        --namespace "$(just _overlay-namespace {{ ENV }})" \
        get cronjob habit-notifier --output wide

# Create the ledger tables in ENV's database (a one-off Job; safe to repeat).
db-init ENV: (_check-env ENV) (_confirm ENV "create the ledger tables")
    #!/usr/bin/env bash
    set -euo pipefail
    name="habit-notifier-db-init-$(date +%s)"
    just _kubectl {{ ENV }} create job "$name" --from=cronjob/habit-notifier \
        --dry-run=client --output yaml \
        | kubectl patch --local --filename - --type json --output yaml --patch \
            '[{"op": "replace", "path": "/spec/template/spec/containers/0/args",
               "value": ["db", "init"]}]' \
        | just _kubectl {{ ENV }} create --filename -
    just _kubectl {{ ENV }} wait --for=condition=complete --timeout=300s "job/$name"
    just _kubectl {{ ENV }} logs "job/$name"

# Start a run of ENV's job now instead of waiting for the schedule.
run-now ENV: (_check-env ENV) (_confirm ENV "start a run now")
    just _kubectl {{ ENV }} create job --from=cronjob/habit-notifier "habit-notifier-manual-$(date +%s)"

# Print the logs of ENV's most recent run.
logs ENV: (_check-env ENV)
    #!/usr/bin/env bash
    set -euo pipefail
    kube=(just _kubectl {{ ENV }})
    latest="$("${kube[@]}" get jobs --selector app=habit-notifier \
        --sort-by=.metadata.creationTimestamp --output name | tail -n 1)"
    if [[ -z "$latest" ]]; then
        echo "logs: no run of habit-notifier in {{ ENV }} yet" >&2
        exit 1
    fi
    "${kube[@]}" logs "$latest" --all-containers

# Stop ENV's schedule (runs already started finish).
suspend ENV: (_check-env ENV) (_confirm ENV "suspend the schedule")
    just _kubectl {{ ENV }} patch cronjob habit-notifier --type merge --patch '{"spec":{"suspend":true}}'

# Restart ENV's schedule.
resume ENV: (_check-env ENV) (_confirm ENV "resume the schedule")
    just _kubectl {{ ENV }} patch cronjob habit-notifier --type merge --patch '{"spec":{"suspend":false}}'

# Create or update ENV's Secret from the git-ignored secrets/ENV.env.
secret ENV: (_check-env ENV)
    #!/usr/bin/env bash
    set -euo pipefail
    file="secrets/{{ ENV }}.env"
    if [[ ! -f "$file" ]]; then
        echo "secret: $file is missing; see "Deploying" in README.md for its keys" >&2
        exit 1
    fi
    for key in DB_PASSWORD TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN; do
        if ! grep -q "^$key=." "$file"; then
            echo "secret: $file has no value for $key" >&2
            exit 1
        fi
    done
    just _confirm {{ ENV }} "replace the Secret from $file"
    namespace="$(just _overlay-namespace {{ ENV }})"
    kubectl create secret generic habit-notifier-secrets --namespace "$namespace" \
        --from-env-file "$file" --dry-run=client --output yaml \
        | kubectl --context "$(just _context {{ ENV }})" apply --filename -

# Regenerate the hashed lock files from pyproject.toml and requirements-build.in.
lock:
    uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
        --python-platform linux --quiet --output-file requirements.lock
    uv pip compile requirements-build.in --generate-hashes --python-version 3.11 \
        --python-platform linux --quiet --output-file requirements-build.lock

# Fail unless ENV names a directory under k8s/overlays.
[private]
_check-env ENV:
    #!/usr/bin/env bash
    set -euo pipefail
    if [[ ! "{{ ENV }}" =~ ^[a-z0-9-]+$ || ! -d "{{ overlays }}/{{ ENV }}" ]]; then
        echo "unknown ENV '{{ ENV }}': choose one of: $(ls -m {{ overlays }})" >&2
        exit 2
    fi

# In prod, ask before ACTION and stop unless the answer is "prod".
[private]
_confirm ENV ACTION:
    #!/usr/bin/env bash
    set -euo pipefail
    if [[ "{{ ENV }}" != prod ]]; then exit 0; fi
    read -r -p "About to {{ ACTION }} in PROD. Type 'prod' to go on: " answer || true
    if [[ "${answer:-}" != prod ]]; then
        echo "stopped: nothing was changed in prod" >&2
        exit 1
    fi

# Render ENV with the image pinned to IMAGE and any COMPONENTS added, from a temp
# kustomization under the git-ignored build/ (Kustomize wants relative paths).
[private]
_render-pinned ENV IMAGE *COMPONENTS:
    #!/usr/bin/env bash
    set -euo pipefail
    mkdir -p build
    tmp="$(mktemp -d build/render.XXXXXX)"
    trap 'rm -rf "$tmp"' EXIT
    image="{{ IMAGE }}"
    if [[ "$image" == *@* ]]; then
        pin="    newName: ${image%@*}"$'\n'"    digest: ${image#*@}"
    else
        pin="    newName: ${image%:*}"$'\n'"    newTag: ${image##*:}"
    fi
    {
        echo "apiVersion: kustomize.config.k8s.io/v1beta1"
        echo "kind: Kustomization"
        echo "resources:"
        echo "  - ../../{{ overlays }}/{{ ENV }}"
        components=({{ COMPONENTS }})
        if ((${#components[@]})); then
            echo "components:"
            for component in "${components[@]}"; do
                echo "  - ../../$component"
            done
        fi
        echo "images:"
        echo "  - name: $(just _overlay-image {{ ENV }})"
        echo "$pin"
    } > "$tmp/kustomization.yaml"
    {{ kustomize }} "$tmp"

# Print the image name (no tag) that ENV's overlay sets.
[private]
_overlay-image ENV:
    @awk '$1 == "newName:" { print $2; exit }' {{ overlays }}/{{ ENV }}/kustomization.yaml

# Print the namespace that ENV's overlay deploys into.
[private]
_overlay-namespace ENV:
    @awk '$1 == "namespace:" { print $2; exit }' {{ overlays }}/{{ ENV }}/kustomization.yaml

# Run kubectl with ARGS against ENV's context and namespace.
[private]
[positional-arguments]
_kubectl ENV *ARGS:
    kubectl --context "$(just _context {{ ENV }})" \
        --namespace "$(just _overlay-namespace {{ ENV }})" "${@:2}"

# Print ENV's registry setting.
[private]
_registry ENV:
    @echo {{ if ENV == "prod" { prod_registry } else if ENV == "staging" { staging_registry } else { error("no registry setting for " + ENV) } }}

# Print ENV's kube context setting.
[private]
_context ENV:
    @echo {{ if ENV == "prod" { prod_context } else if ENV == "staging" { staging_context } else { error("no kube context setting for " + ENV) } }}

# Every file in templates/ must be in the templates ConfigMap, and only those.
_check-templates:
    #!/usr/bin/env bash
    set -euo pipefail
    listed="$(grep -oE '\.\./\.\./templates/[^ ]+' k8s/base/kustomization.yaml \
        | sed 's#.*/##' | sort)"
    present="$(find templates -maxdepth 1 -type f -printf '%f\n' | sort)"
    if [[ "$listed" != "$present" ]]; then
        echo "templates: list exactly the files of templates/ in" \
            "k8s/base/kustomization.yaml (< listed, > present):" >&2
        diff <(echo "$listed") <(echo "$present") >&2 || true
        exit 1
    fi
