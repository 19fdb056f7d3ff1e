#!/usr/bin/env bash
# Debian's chromium for the web console's end-to-end tests (test/web/), driven by playwright-core
# with executablePath /usr/bin/chromium: no browser download works on these machines. Idempotent;
# needs root when chromium is missing.
set -euo pipefail

log() { echo "install-chromium: $*" >&2; }

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  log "chromium is not installed and installing it needs root"
  exit 1
fi
log "installing chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
# With its recommends: the fonts it renders the console's text with.
apt-get install -y -q chromium </dev/null >&2
