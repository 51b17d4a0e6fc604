#!/usr/bin/env bash
# Install the Debian packages lbguard's native checks and sandbox need, when missing.
# Not root and no passwordless sudo: print the exact command and fail, so nobody
# has to guess why a native test could not start.
set -euo pipefail

need=()
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
# verify replays nginx `stream {}` configs too; Debian ships that module separately.
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
# watch delivers to a real Alertmanager in its tests; audit's store runs on PostgreSQL too.
command -v prometheus-alertmanager >/dev/null 2>&1 || [ -x /usr/bin/prometheus-alertmanager ] \
    || need+=(prometheus-alertmanager)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# The parser's C speedups (src/lbguard/_speedups.c) need a compiler and Python's
# headers; without them lbguard installs and runs its pure-Python twins, only slower.
command -v cc >/dev/null 2>&1 || need+=(gcc)
python="${PYTHON:-python3}"
include="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null || true)"
if [ -n "$include" ] && [ ! -f "$include/Python.h" ]; then
    case "$include" in
        /usr/include/*) need+=(python3-dev) ;;
        *) echo "lbguard: no Python.h in $include; the C speedups will not be built" >&2 ;;
    esac
fi

[ ${#need[@]} -eq 0 ] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then
    echo "lbguard: installing system packages: ${need[*]}"
    sh -c "$cmd"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "lbguard: installing system packages with sudo: ${need[*]}"
    sudo sh -c "$cmd"
else
    echo "lbguard: missing system packages: ${need[*]}" >&2
    echo "lbguard: run this as root, then run make again:" >&2
    echo "    sudo sh -c '$cmd'" >&2
    exit 1
fi
