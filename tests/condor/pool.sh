#!/usr/bin/env bash
# A real HTCondor personal pool for tests: Debian trixie's `condor` in a debootstrap chroot.
#
#   tests/condor/pool.sh start    build (first time) or reuse the chroot, start the daemons,
#                                 wait for a slot and the schedd, print `export CONDOR_CONFIG=...`
#   tests/condor/pool.sh stop     stop the daemons (pid file: TERM, then QUIT), kill whatever
#                                 still runs in the chroot, unmount deepest first
#   tests/condor/pool.sh status   say what is built, running and mounted
#   tests/condor/pool.sh build    only build the cached chroot
#   tests/condor/pool.sh condor CMD [ARGS...]   run a condor tool (condor_q, condor_history,
#                                 condor_status, ...) of the chroot against the pool
#   tests/condor/pool.sh clean    stop, then delete the cache (chroot and pool state)
#
# Must run as root (debootstrap, chroot, bind mounts). Everything is loopback only; see
# tests/condor/README.md for the why of each setting. Environment:
#   PLTANOMALY_CONDOR_ROOT    cache folder (default: tests/condor/.cache next to this script)
#   PLTANOMALY_CONDOR_PORT    collector port (default 19618)
#   PLTANOMALY_CONDOR_BINDS   colon-separated folders bound at the same path inside the chroot
#                             (default: /work, plus the repo and the cache when not under it)
#   PLTANOMALY_PYTHON         the Python jobs run (default: the repo's .venv/bin/python); its
#                             venv and its base prefix (pyenv, ...) are bound too
#   PLTANOMALY_DEBIAN_MIRROR  Debian mirror for debootstrap (default: read from host apt sources)
#   PLTANOMALY_CONDOR_CPUS / PLTANOMALY_CONDOR_MEMORY   slot size (default 4 CPUs, 8192 MB)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${PLTANOMALY_CONDOR_ROOT:-$HERE/.cache}"
ROOTFS="$CACHE/rootfs"
STATE="$CACHE/state"               # config, pid file, LOCAL_DIR: same path inside and outside
LOCAL_DIR="$STATE/local"
CONFIG="$STATE/condor_config"
PIDFILE="$STATE/master.pid"
PORT="${PLTANOMALY_CONDOR_PORT:-19618}"
POOL_USER=pltcondor
POOL_UID=1000
POOL_GID=1000
SUITE=trixie
READY_MARK="$ROOTFS/.pltanomaly-ready"

log() { printf 'pool.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot and bind mounts need it)"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------------------------
# The chroot

ensure_tools() {
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            debootstrap >&2
    fi
    command -v unshare >/dev/null || die "unshare (util-linux) is missing"
    command -v flock >/dev/null || die "flock (util-linux) is missing"
}

# The Debian mirror the host's apt already uses (deb822 .sources first, then one-line lists).
host_mirror() {
    if [[ -n ${PLTANOMALY_DEBIAN_MIRROR:-} ]]; then
        echo "$PLTANOMALY_DEBIAN_MIRROR"
        return
    fi
    local codename="" uri=""
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        # Paragraphs separated by blank lines; a paragraph counts if it is of type deb and
        # lists the host's release itself (not -security / -updates) among its suites.
        uri="$(awk -v cn="$codename" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " cn " ") && uris != "") {
                    split(uris, u, " "); print u[1]; found = 1; exit
                }
                types = ""; suites = ""; uris = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "types:" { $1 = ""; types = $0 }
            tolower($1) == "suites:" { $1 = ""; suites = $0 }
            tolower($1) == "uris:" { $1 = ""; uris = $0 }
            END { if (!found) flush() }
        ' "$f")"
        [[ -n $uri ]] && break
    done
    if [[ -z $uri ]]; then
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [[ -f $f ]] || continue
            uri="$(awk -v cn="$codename" '
                $1 == "deb" {
                    i = 2
                    if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                    if ($(i + 1) == cn) { print $i; exit }
                }' "$f")"
            [[ -n $uri ]] && break
        done
    fi
    [[ -n $uri ]] || die "no Debian mirror found in the host's apt sources; set PLTANOMALY_DEBIAN_MIRROR"
    echo "${uri%/}"
}

# Mount points at or under a folder, deepest first.
mounts_under() {
    local base="$1"
    awk -v b="$base" '$5 == b || index($5, b "/") == 1 { print $5 }' /proc/self/mountinfo \
        | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-
}

unmount_under() {
    local base="$1" m
    while read -r m; do
        [[ -n $m ]] || continue
        if ! umount "$m" 2>/dev/null; then
            log "umount $m busy, detaching it lazily"
            umount -l "$m"
        fi
    done < <(mounts_under "$base")
}

safe_rm_rf() {
    local target="$1"
    [[ -e $target ]] || return 0
    [[ -z $(mounts_under "$target") ]] || die "refusing to delete $target: something is mounted under it"
    rm -rf --one-file-system "$target"
}

build_rootfs() {
    if [[ -e $READY_MARK ]]; then
        return
    fi
    ensure_tools
    local mirror partial t0 t1
    mirror="$(host_mirror)"
    partial="$CACHE/rootfs.partial"
    mkdir -p "$CACHE"
    unmount_under "$partial"
    safe_rm_rf "$partial"
    log "building the $SUITE chroot from $mirror (first start only; about 1-2 minutes)"
    t0="$(now)"
    debootstrap --variant=minbase "$SUITE" "$partial" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
        || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    local t_debootstrap
    t_debootstrap="$(elapsed "$t0")"
    log "debootstrap took ${t_debootstrap} s"

    # No service may start during the install.
    printf '#!/bin/sh\nexit 101\n' >"$partial/usr/sbin/policy-rc.d"
    chmod 755 "$partial/usr/sbin/policy-rc.d"

    t1="$(now)"
    mount --bind /proc "$partial/proc"
    mount --bind /dev/pts "$partial/dev/pts"
    local rc=0
    chroot "$partial" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends condor && apt-get clean && rm -rf /var/lib/apt/lists/*' \
        >"$CACHE/install.log" 2>&1 || rc=$?
    unmount_under "$partial"
    if [[ $rc -ne 0 ]]; then
        tail -20 "$CACHE/install.log" >&2
        die "installing condor in the chroot failed (log: $CACHE/install.log)"
    fi
    local t_install
    t_install="$(elapsed "$t1")"
    log "condor install took ${t_install} s"

    # The pool user: HTCondor refuses to run jobs owned by root.
    grep -q "^$POOL_USER:" "$partial/etc/passwd" \
        || echo "$POOL_USER:x:$POOL_UID:$POOL_GID:pltanomaly test pool:/home/$POOL_USER:/bin/sh" >>"$partial/etc/passwd"
    grep -q "^$POOL_USER:" "$partial/etc/group" || echo "$POOL_USER:x:$POOL_GID:" >>"$partial/etc/group"
    mkdir -p "$partial/home/$POOL_USER"

    {
        echo "mirror=$mirror"
        echo "condor=$(chroot "$partial" dpkg-query -W -f '${Version}' condor)"
        echo "debootstrap_seconds=$t_debootstrap"
        echo "install_seconds=$t_install"
        echo "size=$(du -sh --one-file-system "$partial" | cut -f1)"
        echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$partial/.pltanomaly-ready"
    mv "$partial" "$ROOTFS"
    log "chroot ready: $(tr '\n' ' ' <"$READY_MARK")"
}

# ---------------------------------------------------------------------------------------------
# Bind mounts: same paths inside as outside

python_prefixes() {
    local py="${PLTANOMALY_PYTHON:-$REPO/.venv/bin/python}"
    if [[ ! -x $py ]]; then
        py="$(command -v python3 || true)"
    fi
    [[ -n $py ]] || return 0
    "$py" -c 'import sys; print(sys.prefix); print(sys.base_prefix)'
}

# The folders to bind, minus any already visible through another one (nested binds make a
# later rm -rf fail with EBUSY).
bind_list() {
    local -a wanted=()
    if [[ -n ${PLTANOMALY_CONDOR_BINDS:-} ]]; then
        IFS=: read -r -a wanted <<<"$PLTANOMALY_CONDOR_BINDS"
    else
        [[ -d /work ]] && wanted+=(/work)
    fi
    wanted+=("$REPO" "$STATE")
    local p
    while read -r p; do
        [[ -n $p ]] && wanted+=("$p")
    done < <(python_prefixes)
    local -a real=()
    for p in "${wanted[@]}"; do
        [[ -d $p ]] && real+=("$(realpath "$p")")
    done
    printf '%s\n' "${real[@]}" | sort -u | awk '
        { for (i = 1; i <= n; i++) if (index($0, kept[i] "/") == 1 || $0 == kept[i]) next
          kept[++n] = $0; print }'
}

bind_into_rootfs() {
    local src="$1" dst="$ROOTFS$1"
    if mountpoint -q "$dst"; then
        return
    fi
    mkdir -p "$dst"
    mount --bind "$src" "$dst"
}

mount_all() {
    local d
    for d in /proc /sys /dev /dev/pts /dev/shm; do
        if mountpoint -q "$d"; then
            bind_into_rootfs "$d"
        fi
    done
    # Non-recursive binds: when the cache lies under a bound folder (the default), the chroot
    # shows that folder's own copy of the cache path, not the chroot again.
    while read -r d; do
        bind_into_rootfs "$d"
    done < <(bind_list)
}

# ---------------------------------------------------------------------------------------------
# Config

write_config() {
    local cpus="${PLTANOMALY_CONDOR_CPUS:-4}" memory="${PLTANOMALY_CONDOR_MEMORY:-8192}"
    cat >"$CONFIG" <<EOF
# Written by tests/condor/pool.sh: a loopback-only personal pool for tests. Not a security
# boundary. The same file serves the daemons in the chroot and the host's htcondor2 bindings.
RELEASE_DIR = /usr
BIN = /usr/bin
SBIN = /usr/sbin
LIB = /usr/lib/condor
LIBEXEC = /usr/libexec/condor
SHARE = /usr/share/condor
LOCAL_DIR = $LOCAL_DIR
LOG = \$(LOCAL_DIR)/log
SPOOL = \$(LOCAL_DIR)/spool
EXECUTE = \$(LOCAL_DIR)/execute
LOCK = \$(LOCAL_DIR)/lock
RUN = \$(LOCAL_DIR)/run
LOCAL_CONFIG_FILE =
LOCAL_CONFIG_DIR =

CONDOR_HOST = 127.0.0.1
COLLECTOR_PORT = $PORT
COLLECTOR_HOST = 127.0.0.1:\$(COLLECTOR_PORT)
NETWORK_INTERFACE = 127.0.0.1
BIND_ALL_INTERFACES = False
USE_SHARED_PORT = False
DAEMON_LIST = MASTER COLLECTOR NEGOTIATOR SCHEDD STARTD
UID_DOMAIN = pltanomaly.test
FILESYSTEM_DOMAIN = pltanomaly.test
COLLECTOR_NAME = pltanomaly-test-pool
# The machine's host name may not resolve: name daemons by address, mail nobody.
NO_DNS = True
DEFAULT_DOMAIN_NAME = pltanomaly.test
MAIL = /bin/true

SEC_DEFAULT_AUTHENTICATION = REQUIRED
SEC_DEFAULT_AUTHENTICATION_METHODS = CLAIMTOBE
SEC_CLAIMTOBE_USER = $POOL_USER
ALLOW_READ = */127.0.0.1
ALLOW_WRITE = */127.0.0.1
ALLOW_DAEMON = */127.0.0.1
ALLOW_NEGOTIATOR = */127.0.0.1
ALLOW_ADMINISTRATOR = */127.0.0.1
ALLOW_OWNER = */127.0.0.1
ALLOW_CONFIG = */127.0.0.1
QUEUE_SUPER_USERS = $POOL_USER

# One partitionable slot, lxplus-like (2 GB per core): jobs of 1 or more cores carve
# dynamic slots slot1_1, slot1_2, ... so several jobs run side by side.
NUM_CPUS = $cpus
MEMORY = $memory
NUM_SLOTS_TYPE_1 = 1
SLOT_TYPE_1 = 100%
SLOT_TYPE_1_PARTITIONABLE = True
START = True
SUSPEND = False
PREEMPT = False
KILL = False
WANT_SUSPEND = False
WANT_VACATE = False

# Fast turnaround.
NEGOTIATOR_INTERVAL = 2
NEGOTIATOR_MIN_INTERVAL = 1
NEGOTIATOR_CYCLE_DELAY = 1
SCHEDD_INTERVAL = 2
UPDATE_INTERVAL = 2
STARTER_UPDATE_INTERVAL = 2
JOB_START_DELAY = 0
JOB_START_COUNT = 100
SHADOW_SIZE_ESTIMATE = 1
# A held or removed job must not block its slot for 10 minutes.
MachineMaxVacateTime = 5
MAXJOBRETIREMENTTIME = 0

# Leave the host alone.
ENABLE_KERNEL_TUNING = False
BASE_CGROUP =
USE_PID_NAMESPACES = False
DISCARD_SESSION_KEYRING_ON_STARTUP = False
EOF
}

# ---------------------------------------------------------------------------------------------
# Daemons

master_pid() {
    [[ -s $PIDFILE ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Run a condor tool of the chroot (as root in the chroot; CLAIMTOBE names it the pool user).
in_chroot() {
    chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        CONDOR_CONFIG="$CONFIG" "$@"
}

wait_ready() {
    local deadline=$((SECONDS + ${PLTANOMALY_CONDOR_START_TIMEOUT:-90}))
    local slots="" schedds=""
    while ((SECONDS < deadline)); do
        master_pid >/dev/null || die "condor_master exited; see $LOCAL_DIR/log/MasterLog"
        slots="$(in_chroot condor_status -af Name 2>/dev/null || true)"
        schedds="$(in_chroot condor_status -schedd -af Name 2>/dev/null || true)"
        if [[ -n $slots && -n $schedds ]]; then
            return 0
        fi
        sleep 0.25
    done
    tail -20 "$LOCAL_DIR/log/MasterLog" >&2 || true
    die "pool not ready after ${PLTANOMALY_CONDOR_START_TIMEOUT:-90} s (slots: '${slots}', schedd: '${schedds}')"
}

do_start() {
    need_root
    local t0
    t0="$(now)"
    mkdir -p "$CACHE" "$STATE"
    exec 9>"$CACHE/.lock"
    flock 9
    if master_pid >/dev/null; then
        log "pool already running (master pid $(master_pid))"
        echo "export CONDOR_CONFIG=$CONFIG"
        return
    fi
    # Leftovers of a pool that died without stop.
    stop_locked quiet
    build_rootfs
    # A fresh queue each start: old jobs would otherwise come back.
    safe_rm_rf "$LOCAL_DIR"
    mkdir -p "$LOCAL_DIR"/{log,spool,execute,lock,run}
    chmod 755 "$LOCAL_DIR" "$LOCAL_DIR"/*
    write_config
    mount_all
    # condor_master as the pool user: a user namespace maps it to host root, so jobs write
    # files owned by root like the rest of the workflow, yet HTCondor sees a non-root owner.
    unshare --user --map-user="$POOL_UID" --map-group="$POOL_GID" --root="$ROOTFS" --wd=/ \
        /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="/home/$POOL_USER" \
        USER="$POOL_USER" LOGNAME="$POOL_USER" CONDOR_CONFIG="$CONFIG" \
        /usr/sbin/condor_master -pidfile "$PIDFILE" </dev/null >"$STATE/master.stdout" 2>&1 9>&- \
        || die "condor_master did not start: $(cat "$STATE/master.stdout")"
    local i
    for i in $(seq 50); do
        master_pid >/dev/null && break
        sleep 0.1
    done
    master_pid >/dev/null || die "condor_master wrote no pid file; see $LOCAL_DIR/log/MasterLog"
    wait_ready
    log "pool ready in $(elapsed "$t0") s (master pid $(master_pid), collector 127.0.0.1:$PORT)"
    echo "export CONDOR_CONFIG=$CONFIG"
}

# Processes whose root folder is the chroot.
chroot_pids() {
    local p root
    [[ -d $ROOTFS ]] || return 0
    for p in /proc/[0-9]*; do
        root="$(readlink "$p/root" 2>/dev/null || true)"
        if [[ $root == "$ROOTFS" ]]; then
            echo "${p#/proc/}"
        fi
    done
}

wait_gone() {
    local pid="$1" tenths="$2" i
    for ((i = 0; i < tenths; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

stop_locked() {
    local quiet="${1:-}" pid
    if pid="$(master_pid)"; then
        [[ -n $quiet ]] || log "stopping condor_master (pid $pid)"
        # SIGTERM: graceful shutdown. After a job the startd may take ~10 s to agree, so
        # after 5 s SIGQUIT (fast shutdown: running jobs are killed, which a test pool allows).
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 50; then
            [[ -n $quiet ]] || log "condor_master still there after 5 s: SIGQUIT"
            kill -QUIT "$pid" 2>/dev/null || true
            wait_gone "$pid" 150 || log "condor_master (pid $pid) ignored SIGQUIT for 15 s"
        fi
    fi
    rm -f "$PIDFILE"
    local -a left=()
    mapfile -t left < <(chroot_pids)
    if ((${#left[@]})); then
        log "ending processes still running in the chroot: ${left[*]}"
        kill -TERM "${left[@]}" 2>/dev/null || true
        sleep 1
        mapfile -t left < <(chroot_pids)
        ((${#left[@]} == 0)) || kill -KILL "${left[@]}" 2>/dev/null || true
        sleep 0.2
    fi
    if [[ -d $ROOTFS ]]; then
        unmount_under "$ROOTFS"
    fi
    unmount_under "$CACHE/rootfs.partial"
}

do_stop() {
    need_root
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    flock 9
    stop_locked
    log "stopped; nothing mounted under $ROOTFS"
}

do_status() {
    if [[ -e $READY_MARK ]]; then
        echo "chroot: $ROOTFS ($(tr '\n' ' ' <"$READY_MARK"))"
    else
        echo "chroot: not built ($ROOTFS)"
    fi
    local pid
    if pid="$(master_pid)"; then
        echo "master: running, pid $pid; export CONDOR_CONFIG=$CONFIG"
        echo "daemons:"
        ps -o pid=,user=,args= --ppid "$pid" | sed 's/^/  /' || true
        echo "slots:"
        in_chroot condor_status -af Name State Activity Cpus Memory 2>&1 | sed 's/^/  /' || true
        echo "queue:"
        in_chroot condor_q -allusers -totals 2>&1 | tail -2 | sed 's/^/  /' || true
    else
        echo "master: not running"
    fi
    local m
    m="$(mounts_under "$ROOTFS")"
    if [[ -n $m ]]; then
        echo "mounts:"
        printf '%s\n' "$m" | sed 's/^/  /'
    else
        echo "mounts: none"
    fi
    local -a left=()
    mapfile -t left < <(chroot_pids)
    echo "processes in the chroot: ${#left[@]}"
}

do_clean() {
    need_root
    do_stop
    safe_rm_rf "$ROOTFS"
    safe_rm_rf "$CACHE/rootfs.partial"
    safe_rm_rf "$STATE"
    log "cache deleted"
}

case "${1:-}" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
build)
    need_root
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    flock 9
    build_rootfs
    ;;
condor)
    shift
    [[ $# -ge 1 ]] || die "usage: $0 condor CMD [ARGS...]"
    master_pid >/dev/null || die "the pool is not running"
    in_chroot "$@"
    ;;
clean) do_clean ;;
*)
    echo "usage: $0 start|stop|status|build|clean|condor CMD [ARGS...]" >&2
    exit 2
    ;;
esac
