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
# axe-core for the browser tests' accessibility check, from the npm registry (never a CDN).
AXE_DIR=.cache/axe-core-4.14.1
if [ ! -f "$AXE_DIR/axe.min.js" ] && command -v npm >/dev/null 2>&1; then
  (mkdir -p "$AXE_DIR" && cd "$AXE_DIR" && npm pack --silent axe-core@4.14.1 >/dev/null \
    && tar -xzf axe-core-4.14.1.tgz --strip-components=1 package/axe.min.js package/LICENSE \
    && rm -f axe-core-4.14.1.tgz) \
    || echo "warning: could not fetch axe-core; the accessibility test will be skipped"
fi
echo "lookalike is set up: .venv/bin/lookalike --help"
