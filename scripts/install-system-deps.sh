#!/usr/bin/env bash
# System packages the tests need (run as root by .ci/run; idempotent).
set -euo pipefail
if [ "$(id -u)" != "0" ]; then
  echo "install-system-deps.sh: needs root to apt-get install; skipping" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
