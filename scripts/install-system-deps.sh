#!/usr/bin/env bash
# Debian packages the tests need. Run as root (CI does); idempotent and quick when
# everything is already there: apt is only touched for packages that are missing.
set -euo pipefail

# Add packages with a `need` line and a comment saying which tests use them.
PACKAGES=()
need() { PACKAGES+=("$@"); }

# Capture tests: GStreamer RTSP server (run with Debian's python3) + ffmpeg to make the H.264 clip.
need gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-bad ffmpeg

# tests/install: `systemd-analyze verify` checks the unit install.sh writes (the package
# installs fine in a container where systemd is not running), shellcheck lints install.sh.
need systemd shellcheck
# tests/install: Debian's own python3 with venv builds the box's /opt/oko, as on a real box.
need python3-venv
# tests/fleet/test_metrics_names.py (and the agent's): `promtool check metrics` lints both
# /metrics endpoints. Debian ships promtool only inside the server package (19 MB download,
# 96 MB installed, no recommends); the server itself is never started.
need prometheus
# tests/test_face_detectors.py, bench/faces.py: the 1927 Solvay conference photo (public
# domain, 29 faces) at four resolutions, /usr/share/visp-images-data/ViSP-images/Solvay.
need visp-images-data
# tests/console: the web console in a real browser. Playwright drives Debian's chromium
# (executable_path), so no browser is ever downloaded.
need chromium
# tests/fleet (OKO_TEST_STORE=postgresql and the [postgresql] store tests), tests/scale,
# bench/city.py, bench/pg_drivers.py: a real PostgreSQL cluster initdb'd into a temporary
# directory (tests/support/pg.py); the packaged cluster itself is never used.
need postgresql

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "install-system-deps.sh: missing Debian packages: ${missing[*]}" >&2
  echo "  run as root (sudo $0) or install them; tests that need them will fail" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
