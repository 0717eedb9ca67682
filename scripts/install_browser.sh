#!/usr/bin/env bash
# Install Debian's chromium for the browser test (tests/e2e/test_batch_page_browser.py) when it
# is missing. apt-get update + install takes about 80 s on a fresh machine; nothing when present.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium
