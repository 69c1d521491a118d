# syntax=docker/dockerfile:1
# habit-notifier image: a build stage turns the locked dependencies and the package
# into a virtual environment; the runtime stage copies only that environment.
#
# Offline builds: pass a directory of wheels that match requirements*.lock as the
# build context named "wheelhouse" and PIP_INSTALL_OPTIONS=--no-index (see justfile).
# Hashes are checked either way, so a wheelhouse cannot smuggle in other code.

ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM scratch AS wheelhouse

FROM ${BASE_IMAGE} AS build
ARG PIP_INSTALL_OPTIONS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src

# Dependencies first, in their own layer: a code change does not reinstall them.
COPY requirements.lock requirements-build.lock ./
RUN --mount=type=bind,from=wheelhouse,target=/wheelhouse \
    python3 -m venv /opt/build-tools \
    && /opt/build-tools/bin/pip install --require-hashes --find-links /wheelhouse \
        ${PIP_INSTALL_OPTIONS} -r requirements-build.lock \
    && python3 -m venv /opt/habit-notifier \
    && /opt/habit-notifier/bin/pip install --require-hashes --find-links /wheelhouse \
        ${PIP_INSTALL_OPTIONS} -r requirements.lock

COPY pyproject.toml README.md ./
COPY notifier/ notifier/
COPY templates/ templates/
RUN /opt/build-tools/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist . \
    && /opt/habit-notifier/bin/pip install --no-deps --no-index /dist/*.whl \
    && /opt/habit-notifier/bin/pip uninstall --yes pip setuptools

FROM ${BASE_IMAGE} AS runtime
ARG APP_UID=10001
RUN groupadd --system --gid "${APP_UID}" notifier \
    && useradd --no-log-init --uid "${APP_UID}" --gid notifier --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin notifier
COPY --from=build /opt/habit-notifier /opt/habit-notifier
ENV PATH=/opt/habit-notifier/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HEARTBEAT_FILE=/tmp/heartbeat \
    LOG_FORMAT=json
USER ${APP_UID}:${APP_UID}
WORKDIR /tmp
ENTRYPOINT ["habit-notifier"]
CMD ["run"]
