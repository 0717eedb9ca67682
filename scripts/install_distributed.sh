#!/usr/bin/env bash
# Install Debian's PostgreSQL server and Redis for the distributed test stack
# (scripts/distributed_stack.py, `make test-distributed`) when they are missing. Nothing is
# configured system-wide: the stack runs a throwaway cluster and a throwaway Redis in a temp dir.
# apt-get update + install takes about 30-60 s on a fresh machine; nothing when present.
set -euo pipefail
need=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    need+=(postgresql)
fi
if ! command -v redis-server >/dev/null 2>&1; then
    need+=(redis-server)
fi
if [ "${#need[@]}" = "0" ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -q
# The packages' own post-install scripts may start a system service where an init system runs;
# the stack never uses it (its own cluster/server listen on free ports).
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
