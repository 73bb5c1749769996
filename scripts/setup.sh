#!/usr/bin/env bash
# Set up lookalike on a fresh machine: a virtual environment with the pinned requirements,
# the package itself, and (where apt-get is available as root) Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch==2.13.0 (CPU) is pinned; pip takes it from the local wheel folder where one is configured.
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Chromium for the browser tests (Debian packages chromium, chromium-driver)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
    || echo "warning: could not install Chromium; browser tests will be skipped"
fi
echo "lookalike is set up: .venv/bin/lookalike --help"
