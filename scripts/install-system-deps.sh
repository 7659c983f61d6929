#!/usr/bin/env bash
# System packages the tests need (run as root by .ci/run; idempotent).
set -euo pipefail
if [ "$(id -u)" != "0" ]; then
  echo "install-system-deps.sh: needs root to apt-get install; skipping" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Capture tests: GStreamer RTSP server (run with Debian's python3) + ffmpeg to make the H.264 clip.
apt-get install -y --no-install-recommends gir1.2-gst-rtsp-server-1.0 python3-gi \
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad ffmpeg
