#!/usr/bin/env bash
# Installs and starts the container engine the container runtime needs: Debian's docker.io with
# Debian's runsc registered as the `gvisor` runtimes, plus debootstrap (runtime images are built
# from a local bookworm rootfs because no image registry is reachable), busybox-static (the
# sandbox shim), gcc with a static libc (the instances' agent), iptables (the egress network's
# firewall, which the server installs) and e2fsprogs (the size-capped dependency caches, which
# the server makes and loop-mounts). Idempotent; run as root.
# These machines run no systemd, so dockerd is started directly, in the background.
set -euo pipefail

DAEMON_JSON=/etc/docker/daemon.json
DOCKERD_LOG=${FAAS_DOCKERD_LOG:-/var/log/faas-dockerd.log}
WAIT_SECONDS=${FAAS_DOCKERD_WAIT_SECONDS:-120}

log() { printf 'install-engine: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (apt-get and dockerd need it)"
  exit 1
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v runsc >/dev/null 2>&1 || missing+=(runsc)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
# Sandboxes run a shim from a static busybox bind-mounted into any image.
file_is_static() { [ -x "$1" ] && LC_ALL=C grep -q 'busybox' "$1" && ! ldd "$1" >/dev/null 2>&1; }
file_is_static /bin/busybox || missing+=(busybox-static)
# Instances run a small C agent the server compiles statically on first use.
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
[ -f "/usr/lib/$(uname -m)-linux-gnu/libc.a" ] || missing+=(libc6-dev)
# The server guards the egress network with iptables rules and makes dependency caches as ext4
# images it loop-mounts.
command -v iptables-restore >/dev/null 2>&1 || missing+=(iptables)
command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
command -v losetup >/dev/null 2>&1 || missing+=(mount)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # policy-rc.d keeps the package scripts from starting dockerd themselves: this script starts it
  # once the configuration is written.
  policy=/usr/sbin/policy-rc.d
  had_policy=0
  [ -e "$policy" ] && had_policy=1
  if [ "$had_policy" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
  [ "$had_policy" -eq 0 ] && rm -f "$policy"
fi

runsc_path=$(command -v runsc)

# Merge our keys into an existing daemon.json instead of replacing it. Node is on every machine
# of this project (the system one is enough for JSON).
mkdir -p "$(dirname "$DAEMON_JSON")"
before=""
[ -f "$DAEMON_JSON" ] && before=$(cat "$DAEMON_JSON")
after=$(RUNSC="$runsc_path" CURRENT="$before" node -e '
  const current = process.env.CURRENT.trim() === "" ? {} : JSON.parse(process.env.CURRENT);
  // gvisor-uds: the same with connections to host Unix sockets allowed, which the function
  // agent needs: it connects to the socket of the host in its bind-mounted folder.
  // *-net: for containers on the egress network. runsc in host network mode, inside the
  // namespace Docker made for the container: Debian'"'"'s runsc refuses its own netstack on
  // kernels that have net.core.rmem_default in every namespace (it takes each for the root one).
  current.runtimes = { ...(current.runtimes ?? {}),
    gvisor: { path: process.env.RUNSC, runtimeArgs: ["--network=none"] },
    "gvisor-uds": { path: process.env.RUNSC, runtimeArgs: ["--network=none", "--host-uds=open"] },
    "gvisor-net": { path: process.env.RUNSC, runtimeArgs: ["--network=host"] },
    "gvisor-uds-net": { path: process.env.RUNSC, runtimeArgs: ["--network=host", "--host-uds=open"] } };
  current.experimental = true;
  process.stdout.write(JSON.stringify(current, null, 2) + "\n");
')
config_changed=0
# Runtimes are among the settings dockerd reloads on SIGHUP: a change of them alone does not
# restart the engine (and stop every container on it). Anything else does.
needs_restart=0
if [ "$before" != "$after" ]; then
  printf '%s\n' "$after" >"$DAEMON_JSON.tmp"
  mv "$DAEMON_JSON.tmp" "$DAEMON_JSON"
  config_changed=1
  if ! BEFORE="$before" AFTER="$after" node -e '
    const parse = (text) => (text.trim() === "" ? {} : JSON.parse(text));
    const { runtimes: _a, ...before } = parse(process.env.BEFORE);
    const { runtimes: _b, ...after } = parse(process.env.AFTER);
    process.exit(JSON.stringify(before) === JSON.stringify(after) ? 0 : 1);
  '; then
    needs_restart=1
  fi
  log "wrote $DAEMON_JSON"
fi

engine_answers() { docker info >/dev/null 2>&1; }

stop_dockerd() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [ -z "$pid" ]; then
    pid=$(pidof dockerd || true)
  fi
  [ -z "$pid" ] && return 0
  log "restarting dockerd (pid $pid) to load the new configuration"
  kill $pid 2>/dev/null || true
  for _ in $(seq 1 "$WAIT_SECONDS"); do
    kill -0 $pid 2>/dev/null || return 0
    sleep 1
  done
  log "dockerd (pid $pid) did not stop within ${WAIT_SECONDS}s"
  exit 1
}

# Returns non-zero when dockerd does not answer in time; the caller decides whether to retry.
launch_dockerd() {
  log "starting dockerd (log: $DOCKERD_LOG)"
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  # setsid + nohup: dockerd must outlive this script and the shell that ran it.
  setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  for _ in $(seq 1 "$WAIT_SECONDS"); do
    if engine_answers; then
      log "dockerd is answering"
      return 0
    fi
    sleep 1
  done
  return 1
}

# A dockerd stopped while containers were still running leaves their shims for the next
# containerd to clean up; with many of them (gVisor sandboxes left paused panic in `runsc
# delete`) that containerd can miss dockerd's start deadline once. The second start finds the
# cleanup done.
start_dockerd() {
  launch_dockerd && return 0
  log "dockerd did not answer within ${WAIT_SECONDS}s; stopping it and its containerd to try once more"
  pkill -x dockerd 2>/dev/null || true
  for _ in $(seq 1 30); do pidof dockerd >/dev/null 2>&1 || break; sleep 1; done
  pkill -x containerd 2>/dev/null || true
  sleep 2
  launch_dockerd && return 0
  log "dockerd did not answer within ${WAIT_SECONDS}s; last lines of $DOCKERD_LOG:"
  tail -n 30 "$DOCKERD_LOG" >&2 || true
  exit 1
}

reload_dockerd() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || pidof dockerd || true)
  log "reloading dockerd (pid $pid): only its runtimes changed"
  kill -HUP $pid
  for _ in $(seq 1 "$WAIT_SECONDS"); do
    docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"gvisor-uds-net"' && return 0
    sleep 1
  done
  log "dockerd did not take the new runtimes: restarting it"
  stop_dockerd
  start_dockerd
}

if engine_answers; then
  if [ "$needs_restart" -eq 1 ]; then
    stop_dockerd
    start_dockerd
  elif [ "$config_changed" -eq 1 ]; then
    reload_dockerd
  fi
else
  # A dockerd that is running but not answering (still starting) gets its chance first.
  if pidof dockerd >/dev/null 2>&1; then
    for _ in $(seq 1 10); do engine_answers && break; sleep 1; done
  fi
  if ! engine_answers; then
    stop_dockerd
    start_dockerd
  elif [ "$needs_restart" -eq 1 ]; then
    stop_dockerd
    start_dockerd
  elif [ "$config_changed" -eq 1 ]; then
    reload_dockerd
  fi
fi

if ! docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"gvisor"'; then
  log "warning: dockerd answers but has no gvisor runtime; check $DAEMON_JSON"
fi
log "engine ready: $(docker version --format 'server {{.Server.Version}}' 2>/dev/null || echo unknown)"
