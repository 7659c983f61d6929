#!/usr/bin/env bash
# Install (or remove) the Oko edge agent on a Debian/Ubuntu box as a systemd service.
#
#   sudo ./install.sh --fleet fleet.example.org:7440 --token oko1....
#   sudo ./install.sh --uninstall
#
# What it makes: the `oko` system user, a virtualenv at /opt/oko with the agent, the config
# /etc/oko/agent.yaml (written once, never overwritten), the data dir /var/lib/oko
# (identity + spool) and the unit /etc/systemd/system/oko-agent.service.
# Running it again with the same source changes nothing; a new source upgrades in place.
# `--root DIR` puts every file under DIR and only prints the user/systemctl actions it
# would take on a real system: that is how CI tests this script.
if [ -z "${BASH_VERSION:-}" ]; then
  echo "install.sh: run with bash (bash install.sh ...), not sh" >&2
  exit 2
fi
set -Eeuo pipefail

PROG=install.sh
SERVICE=oko-agent.service
SERVICE_USER=oko
OKO_HOME=/opt/oko
CONF_DIR=/etc/oko
DATA_DIR=/var/lib/oko
UNIT_FILE=/etc/systemd/system/$SERVICE
CONFIG_FILE=$CONF_DIR/agent.yaml
FLEET_CA=$CONF_DIR/fleet-ca.pem
STAMP=$OKO_HOME/.oko-install
# Top-level entries of a source checkout that make up the `oko-vision` distribution.
SOURCE_ENTRIES=(pyproject.toml README.md agent fleet proto models)

FLEET="" TOKEN="" CA_FILE="" ROOT="" SOURCE="" PYTHON=python3 PIP_ARGS=""
MEMORY_MAX=1536M CPU_QUOTA=180% ENROLL=1 UNINSTALL=0 DRY_RUN=0 KEEP_DATA=0
STEP="start" STAGE="" CURRENT="" CHANGED=0 UNIT_CHANGED=0 SOURCE_SHA=""

usage() {
  cat <<EOF
Usage: sudo ./$PROG --fleet HOST:PORT --token TOKEN [options]
       sudo ./$PROG --uninstall [--keep-data] [--root DIR]

Installs the Oko edge agent as the systemd service $SERVICE: user '$SERVICE_USER',
virtualenv $OKO_HOME, config $CONFIG_FILE, data $DATA_DIR. Idempotent.

Options:
  --fleet HOST:PORT   the fleet's API port (oko-fleet --listen, 7440 by default)
  --token TOKEN       one-time enrollment token from 'okoctl' (needed to enroll)
  --ca-file FILE      fleet CA certificate (PEM); default: trust the CA pinned in the token
  --source PATH       checkout directory or .whl to install (default: this script's directory)
  --python PYTHON     Python 3.11+ that makes the virtualenv (default: python3); a working
                      $OKO_HOME keeps its Python (--uninstall first to change it)
  --pip-args ARGS     extra pip arguments, e.g. "--no-index --find-links /srv/wheels"
  --memory-max SIZE   systemd MemoryMax= of the service (default: $MEMORY_MAX)
  --cpu-quota PCT     systemd CPUQuota= of the service (default: $CPU_QUOTA)
  --no-enroll         install without enrolling (enroll later with 'oko-agent enroll')
  --root DIR          write every file under DIR; print user/systemctl actions, don't run them
  --dry-run           print what would change, change nothing
  --uninstall         remove everything this script made
  --keep-data         with --uninstall: keep $CONF_DIR and $DATA_DIR (identity, unsent events)
  -h, --help          this help
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 1; }
say() { echo "==> $*"; }
note() { echo "    $*"; }
on_error() {
  local rc=$1 cmd=$2
  echo "$PROG: error: step '$STEP' failed: \`${CURRENT:-$cmd}\` exited with status $rc" >&2
  [ -n "$STAGE" ] && rm -rf -- "$STAGE"
  exit "$rc"
}
trap 'on_error $? "$BASH_COMMAND"' ERR
trap '[ -n "$STAGE" ] && rm -rf -- "$STAGE"; true' EXIT

# A path on the target system, as seen from here (under --root DIR when given).
R() { printf '%s%s' "$ROOT" "$1"; }

# Print a command with the token masked, so logs and terminals never show the secret.
show() {
  local out="" arg
  for arg in "$@"; do
    if [ -n "$TOKEN" ] && [ "$arg" = "$TOKEN" ]; then out+=" <token>"; continue; fi
    out+=" $(printf '%q' "$arg")"
  done
  printf '%s' "${out# }"
}

# Run a command that changes the box (or only print it under --dry-run).
act() {
  if [ "$DRY_RUN" = 1 ]; then note "would run: $(show "$@")"; return 0; fi
  CURRENT="$(show "$@")"
  note "\$ $CURRENT"
  # Explicit: under `act ... || die` bash suspends set -e inside the function.
  local rc=0
  "$@" || rc=$?
  [ "$rc" = 0 ] && CURRENT=""
  return "$rc"
}

# Like act, for actions on the real system's users and services: skipped under --root.
system() {
  if [ -n "$ROOT" ]; then note "skipped (--root): $(show "$@")"; return 0; fi
  act "$@"
}

need_value() { { [ $# -ge 2 ] && [ -n "$2" ]; } || die "$1 needs a value (see --help)"; }

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --fleet) need_value "$@"; FLEET=$2; shift ;;
      --token) need_value "$@"; TOKEN=$2; shift ;;
      --ca-file) need_value "$@"; CA_FILE=$2; shift ;;
      --source) need_value "$@"; SOURCE=$2; shift ;;
      --python) need_value "$@"; PYTHON=$2; shift ;;
      --pip-args) need_value "$@"; PIP_ARGS=$2; shift ;;
      --memory-max) need_value "$@"; MEMORY_MAX=$2; shift ;;
      --cpu-quota) need_value "$@"; CPU_QUOTA=$2; shift ;;
      --root) need_value "$@"; ROOT=$2; shift ;;
      --no-enroll) ENROLL=0 ;;
      --dry-run) DRY_RUN=1 ;;
      --uninstall) UNINSTALL=1 ;;
      --keep-data) KEEP_DATA=1 ;;
      -h|--help) usage; exit 0 ;;
      *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
  done
}

check_args() {
  STEP="check options"
  if [ -n "$ROOT" ]; then
    case "$ROOT" in /*) ;; *) ROOT="$(pwd)/$ROOT" ;; esac
    ROOT="${ROOT%/}"
    [ -z "$ROOT" ] || [ -d "$ROOT" ] || die "--root $ROOT: no such directory"
  fi
  if [ "$UNINSTALL" = 1 ]; then return 0; fi
  [ "$KEEP_DATA" = 0 ] || die "--keep-data only goes with --uninstall"
  if [ "$ENROLL" = 1 ]; then
    [ -n "$FLEET" ] || die "--fleet HOST:PORT is required (or --no-enroll to enroll later)"
    [ -n "$TOKEN" ] || die "--token is required (mint one with 'okoctl'), or --no-enroll"
  fi
  if [ -n "$FLEET" ]; then
    [[ "$FLEET" =~ ^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):([0-9]{1,5})$ ]] \
      || die "--fleet '$FLEET' is not HOST:PORT"
    local port=${BASH_REMATCH[2]}
    { [ "$((10#$port))" -ge 1 ] && [ "$((10#$port))" -le 65535 ]; } \
      || die "--fleet '$FLEET': port must be 1..65535"
  fi
  [[ -z "$TOKEN" || "$TOKEN" =~ ^[!-~]+$ ]] || die "--token contains spaces or control characters"
  if [ -n "$CA_FILE" ]; then
    { [ -f "$CA_FILE" ] && [ -r "$CA_FILE" ]; } || die "--ca-file $CA_FILE: not a readable file"
    grep -q -- "-----BEGIN CERTIFICATE-----" "$CA_FILE" \
      || die "--ca-file $CA_FILE: no PEM certificate in it"
  fi
  [[ "$MEMORY_MAX" =~ ^[0-9]+[KMGT]?$ ]] || die "--memory-max '$MEMORY_MAX': use e.g. 1536M or 2G"
  { [[ "$CPU_QUOTA" =~ ^[0-9]+%$ ]] && [ "${CPU_QUOTA%\%}" -gt 0 ]; } \
    || die "--cpu-quota '$CPU_QUOTA': use a percentage such as 180% (100% = one core)"
  [ -n "$SOURCE" ] || SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  if [ -d "$SOURCE" ]; then
    [ -f "$SOURCE/pyproject.toml" ] \
      || die "--source $SOURCE: no pyproject.toml there (expected an Oko checkout)"
  elif [[ "$SOURCE" != *.whl ]] || [ ! -f "$SOURCE" ]; then
    die "--source $SOURCE: not a checkout directory or a .whl file"
  fi
}

check_host() {
  STEP="check this machine"
  if [ -n "$ROOT" ]; then return 0; fi
  [ "$DRY_RUN" = 1 ] || [ "$(id -u)" = 0 ] || die "run as root: sudo ./$PROG $*"
  local os_id="" os_like=""
  if [ -r /etc/os-release ]; then
    # shellcheck source=/dev/null
    os_id=$(. /etc/os-release && echo "${ID:-}")
    # shellcheck source=/dev/null
    os_like=$(. /etc/os-release && echo "${ID_LIKE:-}")
  fi
  [[ " $os_id $os_like " == *" debian "* || " $os_id $os_like " == *" ubuntu "* ]] \
    || die "this installer supports Debian and Ubuntu; found '${os_id:-unknown}'"
  command -v systemctl >/dev/null || die "systemctl not found: the agent runs as a systemd service"
  [ "$UNINSTALL" = 1 ] || command -v runuser >/dev/null || die "runuser not found (util-linux)"
}

check_python() {
  STEP="check Python"
  command -v "$PYTHON" >/dev/null || die "--python $PYTHON: not found"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "$PYTHON is $("$PYTHON" -V 2>&1); the agent needs Python 3.11+ (pass --python)"
  "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$PYTHON cannot make virtualenvs: apt-get install python3-venv"
}

# Copy the distribution's files out of the checkout: the build then never writes into it,
# and the hash of exactly what gets installed decides whether anything changed.
stage_source() {
  STEP="stage the source"
  STAGE=$(mktemp -d "${TMPDIR:-/tmp}/oko-install.XXXXXX")
  if [ -f "$SOURCE" ]; then
    cp -- "$SOURCE" "$STAGE/"
    SOURCE_SHA=$(sha256sum "$SOURCE" | cut -d' ' -f1)
    return 0
  fi
  local entry present=()
  for entry in "${SOURCE_ENTRIES[@]}"; do
    [ -e "$SOURCE/$entry" ] || die "--source $SOURCE: '$entry' is missing"
    present+=("$entry")
  done
  mkdir "$STAGE/src"
  # models/extra: optional GPL/AGPL builds (make models EXTRA=...), never installed.
  tar -C "$SOURCE" --exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' \
    --exclude=.mypy_cache --exclude=.pytest_cache --exclude=models/extra \
    -cf - "${present[@]}" | tar -C "$STAGE/src" -xf -
  SOURCE_SHA=$(cd "$STAGE/src" && find . -type f -print0 | LC_ALL=C sort -z \
    | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

ensure_user() {
  STEP="create the service user"
  if [ -z "$ROOT" ] && id -u "$SERVICE_USER" >/dev/null 2>&1; then
    note "user $SERVICE_USER exists"
    return 0
  fi
  local groups=()
  # USB cameras are /dev/video* owned by group video.
  getent group video >/dev/null 2>&1 && groups=(--groups video)
  system useradd --system --user-group "${groups[@]}" --home-dir "$DATA_DIR" --no-create-home \
    --shell /usr/sbin/nologin --comment "Oko edge agent" "$SERVICE_USER"
}

# mkdir + mode + owner; owner changes only on the real system (the user exists there).
ensure_dir() {
  local path=$1 mode=$2 owner=$3
  if [ ! -d "$(R "$path")" ]; then
    act install -d -m "$mode" -- "$(R "$path")"
  elif [ "$(stat -c %a "$(R "$path")")" != "$mode" ]; then
    act chmod "$mode" -- "$(R "$path")"
  fi
  if [ -z "$ROOT" ] && [ "$(stat -c %U:%G "$path" 2>/dev/null)" != "$owner" ]; then
    act chown "$owner" -- "$path"
  fi
}

make_dirs() {
  STEP="create directories"
  ensure_dir "$OKO_HOME" 755 root:root
  ensure_dir "$CONF_DIR" 750 "root:$SERVICE_USER"
  # The agent itself keeps its data dir at 0700 (identity keys live there).
  ensure_dir "$DATA_DIR" 700 "$SERVICE_USER:$SERVICE_USER"
}

installed_stamp() { cat "$(R "$STAMP")" 2>/dev/null || true; }

install_venv() {
  STEP="install the agent into $OKO_HOME"
  local venv pip target extra=()
  venv=$(R "$OKO_HOME")
  if [ "$(installed_stamp)" = "$SOURCE_SHA" ] && "$venv/bin/python" -c '' 2>/dev/null; then
    note "$OKO_HOME already has this source installed ($SOURCE_SHA)"
    return 0
  fi
  CHANGED=1
  if [ -n "$(ls -A "$venv" 2>/dev/null)" ] && [ ! -f "$venv/pyvenv.cfg" ]; then
    die "$venv is not empty and not a virtualenv; move it away first"
  fi
  if ! "$venv/bin/python" -c '' 2>/dev/null; then
    act "$PYTHON" -m venv --clear "$venv"
  fi
  pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
  [ -z "$PIP_ARGS" ] || read -r -a extra <<<"$PIP_ARGS"
  if [ -f "$SOURCE" ]; then
    target="$STAGE/$(basename "$SOURCE")"
    act "${pip[@]}" install "${extra[@]}" --upgrade "$target"
    # pip keeps an installed wheel of the same version; this one may differ in content.
    act "${pip[@]}" install "${extra[@]}" --no-deps --force-reinstall "$target"
  else
    # A directory requirement is always rebuilt and reinstalled, same version or not.
    act "${pip[@]}" install "${extra[@]}" --upgrade "$STAGE/src"
  fi
  act "$venv/bin/oko-agent" version
  if [ "$DRY_RUN" = 0 ]; then
    printf '%s\n' "$SOURCE_SHA" >"$venv/.oko-install.tmp"
    mv -f -- "$venv/.oko-install.tmp" "$(R "$STAMP")"
  fi
}

# Write stdin to a file if its content or mode differ; sets CHANGED when it wrote.
put_file() {
  local dest=$1 mode=$2 content
  content=$(cat; echo x)
  content=${content%x}
  if [ -f "$dest" ] && [ "$(cat "$dest"; echo x)" = "${content}x" ] \
      && [ "$(stat -c %a "$dest")" = "$mode" ]; then
    note "$dest unchanged"
    return 0
  fi
  CHANGED=1
  if [ "$DRY_RUN" = 1 ]; then note "would write $dest"; return 0; fi
  printf '%s' "$content" >"$dest.tmp.$$"
  chmod "$mode" "$dest.tmp.$$"
  mv -f -- "$dest.tmp.$$" "$dest"
  note "wrote $dest"
}

config_text() {
  cat <<EOF
# Oko edge agent configuration, written once by install.sh (it never overwrites this file).
# Every setting: docs/reference/config.md. After editing: systemctl restart oko-agent
data_dir: $DATA_DIR
fleet:
  api: "$FLEET"
metrics:
  host: 127.0.0.1
  port: 9464
cameras: []
EOF
}

write_config() {
  STEP="write $CONFIG_FILE"
  local conf
  conf=$(R "$CONFIG_FILE")
  if [ -f "$conf" ]; then
    note "$CONFIG_FILE exists; kept as it is"
  else
    put_file "$conf" 640 < <(config_text)
  fi
  if [ -n "$CA_FILE" ]; then put_file "$(R "$FLEET_CA")" 644 <"$CA_FILE"; fi
  if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ]; then chgrp "$SERVICE_USER" "$conf"; fi
  if [ ! -f "$conf" ] || [ ! -x "$(R "$OKO_HOME")/bin/python" ]; then return 0; fi
  # The agent's own model checks the file, so a bad edit is named before the service starts.
  STEP="check $CONFIG_FILE"
  "$(R "$OKO_HOME")/bin/python" - "$conf" <<'EOF'
import sys
from agent.config.agent import AgentConfig
from agent.config.base import load_yaml
from agent.errors import ConfigError
try:
    load_yaml(AgentConfig, sys.argv[1])
except ConfigError as err:
    sys.exit(f"install.sh: error: {err}")
EOF
}

is_enrolled() { [ -s "$(R "$DATA_DIR")/identity/device.crt" ]; }

enroll_box() {
  STEP="enroll with the fleet at $FLEET"
  if is_enrolled; then note "already enrolled (identity in $DATA_DIR/identity)"; return 0; fi
  if [ "$ENROLL" = 0 ]; then note "not enrolled (--no-enroll)"; return 0; fi
  local cmd=("$(R "$OKO_HOME")/bin/oko-agent" enroll --fleet "$FLEET" --token "$TOKEN"
             --data-dir "$(R "$DATA_DIR")")
  [ -z "$CA_FILE" ] || cmd+=(--ca-file "$(R "$FLEET_CA")")
  # On the box the identity must belong to the service user: enroll as that user.
  [ -n "$ROOT" ] || cmd=(runuser -u "$SERVICE_USER" -- "${cmd[@]}")
  act "${cmd[@]}" || die "enrollment failed (see the message above); fix it and run again"
  CHANGED=1
}

unit_text() {
  cat <<EOF
# Written by install.sh; run it again to update, or 'install.sh --uninstall' to remove.
[Unit]
Description=Oko edge agent (cameras -> detections -> events to the fleet)
After=network-online.target
Wants=network-online.target
# A crash loop backs off instead of burning the CPU the cameras need.
StartLimitIntervalSec=600
StartLimitBurst=10

[Service]
Type=simple
User=$SERVICE_USER
Group=$SERVICE_USER
# --require-uplink: an enrolled box that cannot reach its uplink exits (and is restarted)
# instead of quietly running with "uplink off".
ExecStart=$OKO_HOME/bin/oko-agent run --config $CONFIG_FILE --require-uplink
WorkingDirectory=$DATA_DIR
Restart=on-failure
RestartSec=5
TimeoutStopSec=30
Environment=OKO_LOG_LEVEL=INFO
MemoryMax=$MEMORY_MAX
CPUQuota=$CPU_QUOTA
TasksMax=512
LimitNOFILE=16384
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
ReadWritePaths=$DATA_DIR
ReadOnlyPaths=$CONF_DIR

[Install]
WantedBy=multi-user.target
EOF
}

write_unit() {
  STEP="write $UNIT_FILE"
  local before=$CHANGED
  CHANGED=0
  [ -d "$(dirname "$(R "$UNIT_FILE")")" ] || act mkdir -p -- "$(dirname "$(R "$UNIT_FILE")")"
  put_file "$(R "$UNIT_FILE")" 644 < <(unit_text)
  UNIT_CHANGED=$CHANGED
  CHANGED=$((before | CHANGED))
}

start_service() {
  STEP="enable and start $SERVICE"
  [ "$UNIT_CHANGED" = 0 ] || system systemctl daemon-reload
  system systemctl enable "$SERVICE"
  if ! is_enrolled; then
    if [ "$DRY_RUN" = 1 ] && [ "$ENROLL" = 1 ]; then
      note "would start $SERVICE once the enrollment above succeeds"
    else
      note "not started: enroll first (the command is printed below), then: systemctl start $SERVICE"
    fi
  elif [ "$CHANGED" = 1 ]; then
    system systemctl restart "$SERVICE"
  else
    system systemctl start "$SERVICE"
  fi
}

print_enroll_hint() {
  cat <<EOF
  enroll:   sudo -u $SERVICE_USER $OKO_HOME/bin/oko-agent enroll --fleet HOST:PORT \\
              --token TOKEN --data-dir $DATA_DIR && systemctl start $SERVICE
EOF
}

print_next_steps() {
  if [ "$DRY_RUN" = 1 ]; then
    say "dry run finished: nothing was changed"
    [ "$ENROLL" = 1 ] || print_enroll_hint
    return 0
  fi
  cat <<EOF

Oko agent installed${ROOT:+ under $ROOT}.
  status:   systemctl status $SERVICE
  logs:     journalctl -u $SERVICE -f
  health:   curl -s http://127.0.0.1:9464/healthz   (metrics: /metrics)
  config:   $CONFIG_FILE (then: systemctl restart $SERVICE)
  version:  $OKO_HOME/bin/oko-agent version
EOF
  if ! is_enrolled; then print_enroll_hint; fi
}

uninstall() {
  STEP="uninstall"
  say "removing the Oko agent${ROOT:+ from under $ROOT}"
  if [ -f "$(R "$UNIT_FILE")" ]; then
    system systemctl disable --now "$SERVICE"
    act rm -f -- "$(R "$UNIT_FILE")"
    system systemctl daemon-reload
  fi
  local path paths=("$OKO_HOME")
  [ "$KEEP_DATA" = 1 ] || paths+=("$CONF_DIR" "$DATA_DIR")
  for path in "${paths[@]}"; do
    if [ -e "$(R "$path")" ]; then act rm -rf -- "$(R "$path")"; fi
  done
  [ "$KEEP_DATA" = 0 ] || note "kept $CONF_DIR and $DATA_DIR (--keep-data)"
  # Only a user that is ours: a system account whose home is the agent's data dir.
  if [ "$KEEP_DATA" = 0 ] && { [ -n "$ROOT" ] \
      || [ "$(getent passwd "$SERVICE_USER" | cut -d: -f6)" = "$DATA_DIR" ]; }; then
    system userdel "$SERVICE_USER"
  fi
  say "done"
}

main() {
  parse_args "$@"
  check_args
  check_host "$@"
  if [ "$UNINSTALL" = 1 ]; then uninstall; return 0; fi
  check_python
  [ "$DRY_RUN" = 0 ] || say "dry run: nothing will be changed"
  say "installing the Oko agent from $SOURCE${ROOT:+ under $ROOT}"
  stage_source
  ensure_user
  make_dirs
  install_venv
  write_config
  enroll_box
  write_unit
  start_service
  print_next_steps
}

main "$@"
