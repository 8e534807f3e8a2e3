#!/usr/bin/env bash
# Install what the project needs on a Debian machine with Python 3.11 (root for apt):
#   scripts/install.sh          runtime: a virtualenv in .venv with the package
#   scripts/install.sh --test   also the test tools and the real components the tests start
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-runtime}
apt_packages=()
if [ "$mode" = "--test" ]; then
  # Real components the test suite starts (see docs/testing.md), one per line.
  apt_packages+=(
    chromium
    curl           # the docs' examples talk to the servers they start (tests/project/test_docs_run.py)
    golang-go      # tests/origins: Go net/http, a real origin parser for the differential harness
    libjetty9-java # tests/origins: Java servlets on Jetty 9.4 (getParameterMap, getParts); a reveal upstream
    libtomcat10-java  # tests/reveal/upstreams: embedded Tomcat 10.1, a reveal upstream that reads `;` path parameters
    nodejs
    openjdk-17-jdk-headless  # javac and java for the Jetty origin (default-jdk-headless only adds metapackages)
    php-cli        # tests/origins: PHP's built-in server ($_POST, $_FILES)
    ruby-rack      # tests/origins: Rack's form and multipart parsers
    ruby-webrick   #   and a server to run them
    softhsm2
    systemd        # systemd-analyze verify on deploy/systemd/ (tests/e2e/test_deploy_systemd.py)
    valgrind       # benchmarks/cost_per_request.py --callgrind: instructions per request, deterministic
    wrk
  )
  command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "install: Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
  apt_packages+=(python3-venv)
fi

missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install: apt-get install ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# Dependencies come from a hash-pinned lock (docs/dependencies.md), then the project itself without deps.
lock=requirements/runtime.txt
[ "$mode" = "--test" ] && lock=requirements/test.txt
stamp=".venv/.installed-$(basename "$lock" .txt)"
fingerprint=$(cat pyproject.toml "$lock" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$fingerprint" ]; then
  # pip first, at the lock's own version and hashes: the pip a new venv brings (23.2 on Python 3.11.7)
  # resolves a dependency's extras (pip-audit's `CacheControl[filecache]>=0.13`) to the newest release
  # instead of the locked one, and then refuses it as unpinned; pip 23.3 and newer keep the lock's pin.
  pip_pin=$(awk '/^pip==/ {p=1} p && /^[a-z]/ && !/^pip==/ {exit} p && !/^ *#/' "$lock")
  if [ -n "$pip_pin" ]; then  # the pin, its last line's continuation cut, read from a pipe (no temp file)
    .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
      -r <(printf '%s\n' "$pip_pin" | sed '$ s/ *\\$//')
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r "$lock"
  # setuptools warns that an editable install lets same-named folders shadow the package: that is what it
  # is for here (the checkout is the package), so the ten-line banner is silenced.
  PYTHONWARNINGS="ignore:Editable installation" \
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$fingerprint" > "$stamp"
fi

if [ "$mode" = "--test" ]; then
  # Node servers the tests start (dynalite), pinned by tests/node/package-lock.json, installed locally.
  if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    echo "install: the tests' dynalite needs Node.js 20 or newer (found $(node --version))" >&2
    exit 1
  fi
  lock_sum=$(sha256sum tests/node/package-lock.json | cut -d' ' -f1)
  if [ ! -d tests/node/node_modules/dynalite ] || [ "$(cat tests/node/node_modules/.fle-lock 2>/dev/null)" != "$lock_sum" ]; then
    echo "install: npm ci in tests/node"
    npm ci --prefix tests/node --no-audit --no-fund --loglevel=error >/dev/null
    echo "$lock_sum" > tests/node/node_modules/.fle-lock
  fi
fi
