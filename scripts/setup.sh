#!/usr/bin/env bash
# Sets up everything mapi needs on a Debian machine, idempotently:
#   system packages (libpcap headers, a C compiler, tcpdump/tshark/capinfos as test oracles,
#   valgrind for the benchmarks, tcpreplay for the live capture tests), a virtual environment in
#   .venv, and every distribution of the workspace installed editable.  Safe to run again; it
#   only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential python3-dev python3-venv libpcap-dev libpcre2-dev tcpdump tshark valgrind iproute2 tcpreplay)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "setup: installing system packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel 2>&1 | grep -v "^WARNING: Location" || true
echo "setup: installing mapi-core and mapi-stdlib (editable) and the test tools"
.venv/bin/python -m pip install -q -e ./mapi_core -e ./mapi_stdlib -r requirements-dev.txt 2>&1 \
    | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import mapi_core, mapi_stdlib" || { echo "setup: the install failed" >&2; exit 1; }
echo "setup: done (activate with: source .venv/bin/activate)"
