#!/bin/bash
# `brig container run --rm --network none IMAGE true` against
# `podman run --rm --network none IMAGE true` with crun, and brig's own
# `brig run` of the same rootfs as an OCI bundle (issues 18, 19). Run as root from the
# workspace root:
#
#   benches/run-vs-podman.sh [BRIG_BIN] [ROUNDS] [none|bridge]
#
# Defaults: target/release/brig, 20 rounds, none. With `bridge`, both engines
# use their default network instead of --network none: brig its default CNI
# network (brig0: bridge, host-local, portmap and firewall from /usr/lib/cni),
# kept under a private --network-root and --netns-dir, and podman its default
# (netavark here); `brig run` of the bundle stays as it is (its own empty
# network namespace). It refuses to run if a brig0 link exists already
# (another network root's), and on exit removes what it made: brig's network
# (its bridge, the loopback guard rule), the chains the CNI firewall plugin and
# netavark leave behind (when they were not there before), and
# net.ipv4.ip_forward goes back to its old value. The image is a rootfs tarball of the
# static /bin/busybox (with a `true` link), imported by `brig image import` into a
# private image root and by `podman import` into a private podman
# --root/--runroot (`--cgroup-manager cgroupfs`, `--runtime crun`,
# `--events-backend none`; `--ulimit nofile=1024:1024 --ulimit nproc=1024:1024`,
# which podman needs on this host). The bundle for `brig run` is the same rootfs
# with `brig spec`'s config.json (args `true`, no terminal). Each round runs the
# three once, in rotated order; the table gives the medians (and p25-p75) and
# brig's ratios. Everything it made goes on exit.
set -euo pipefail

BRIG=${1:-target/release/brig}
ROUNDS=${2:-20}
NET=${3:-none}
BRIG=$(readlink -f "$BRIG")
case $NET in
none | bridge) ;;
*) echo "network: none or bridge, not $NET" >&2; exit 2 ;;
esac
if [ "$NET" = bridge ] && ip link show brig0 >/dev/null 2>&1; then
    echo "a brig0 link exists already (another network root's); remove it first" >&2
    exit 1
fi
command -v podman >/dev/null || { echo "podman is missing" >&2; exit 1; }
command -v crun >/dev/null || { echo "crun is missing" >&2; exit 1; }
# crun refuses this hybrid host unless hugetlb is a v1 hierarchy (DESIGN.md).
if ! grep -q ' /sys/fs/cgroup/hugetlb cgroup ' /proc/self/mounts && [ -d /sys/fs/cgroup/unified ]; then
    echo "mounting the hugetlb v1 hierarchy for crun" >&2
    mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi

W=$(mktemp -d /tmp/brig-runbench.XXXXXX)
PM=(podman --root "$W/pm/root" --runroot "$W/pm/run" --cgroup-manager cgroupfs
    --runtime crun --events-backend none --storage-driver overlay)
IPT_BEFORE=$(iptables-save 2>/dev/null || true)
FWD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)
had_chain() { grep -q "^:$1 " <<<"$IPT_BEFORE"; }
cleanup() {
    "${PM[@]}" rm --all --force >/dev/null 2>&1 || true
    "${PM[@]}" rmi --all --force >/dev/null 2>&1 || true
    "$BRIG" --root "$W/state" delete --force bench-run >/dev/null 2>&1 || true
    if [ "$NET" = bridge ]; then
        # brig's network: the guard rule, the brig0 bridge, the conflist, the leases.
        "$BRIG" network rm brig0 >/dev/null 2>&1 || true
        # What the CNI firewall plugin and netavark make once and never remove.
        if ! had_chain CNI-FORWARD; then
            iptables -w -D FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD 2>/dev/null
            for c in CNI-FORWARD CNI-ADMIN; do iptables -w -F $c 2>/dev/null; iptables -w -X $c 2>/dev/null; done
        fi
        if ! had_chain NETAVARK_FORWARD; then
            iptables -w -D FORWARD -m comment --comment "netavark firewall plugin rules" -j NETAVARK_FORWARD 2>/dev/null
            iptables -w -F NETAVARK_FORWARD 2>/dev/null; iptables -w -X NETAVARK_FORWARD 2>/dev/null
        fi
        if ! had_chain NETAVARK-HOSTPORT-DNAT; then
            iptables -w -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT 2>/dev/null
            iptables -w -t nat -D OUTPUT -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT 2>/dev/null
            iptables -w -t nat -D POSTROUTING -j NETAVARK-HOSTPORT-MASQ 2>/dev/null
            for c in NETAVARK-HOSTPORT-DNAT NETAVARK-HOSTPORT-MASQ NETAVARK-HOSTPORT-SETMARK; do
                iptables -w -t nat -F $c 2>/dev/null; iptables -w -t nat -X $c 2>/dev/null
            done
        fi
        echo "$FWD_BEFORE" >/proc/sys/net/ipv4/ip_forward
        if ip link show brig0 >/dev/null 2>&1; then echo "left behind: the brig0 link" >&2; fi
        if ! diff <(grep -v '^#' <<<"$IPT_BEFORE") <(iptables-save | grep -v '^#') >&2; then
            echo "left behind: the iptables rules above (> lines)" >&2
        fi
    fi
    grep -o " $W[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/bundle/rootfs/bin"
cp /bin/busybox "$W/bundle/rootfs/bin/"
for a in sh true; do ln -s busybox "$W/bundle/rootfs/bin/$a"; done
tar -C "$W/bundle/rootfs" -czf "$W/busybox.tar.gz" .
"$BRIG" spec --bundle "$W/bundle"
jq '.process.args = ["true"] | .process.terminal = false' "$W/bundle/config.json" >"$W/c" &&
    mv "$W/c" "$W/bundle/config.json"

export BRIG_IMAGE_ROOT=$W/brig BRIG_NETWORK_ROOT=$W/net BRIG_NETNS_DIR=$W/netns
"$BRIG" image import "$W/busybox.tar.gz" bench-bb >/dev/null
"${PM[@]}" import -q "$W/busybox.tar.gz" bench-bb >/dev/null

if [ "$NET" = none ]; then NETFLAG=(--network none); else NETFLAG=(); fi
run_brig() { "$BRIG" container run --rm "${NETFLAG[@]}" bench-bb true; }
run_podman() {
    "${PM[@]}" run --rm "${NETFLAG[@]}" --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        localhost/bench-bb true
}
run_bundle() { "$BRIG" --root "$W/state" run --bundle "$W/bundle" bench-run; }
names=(brig-container-run podman-run brig-run-bundle)
fns=(run_brig run_podman run_bundle)
# One untimed trial of each: it checks all three work.
for f in "${fns[@]}"; do $f || { echo "$f failed" >&2; exit 1; }; done

now() { date +%s%N; }
declare -A t
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 0 $((ROUNDS - 1))); do
    for k in 0 1 2; do
        i=$(((r + k) % 3))
        t0=$(now); ${fns[$i]} >/dev/null; t1=$(now)
        t[$i]+="$(((t1 - t0) / 1000)) "
    done
done
pct() { # p values... -> the p-th percentile in ms (nearest rank)
    local p=$1; shift
    printf '%s\n' "$@" | sort -n | awk -v p="$p" '{a[NR]=$1} END {i=int((NR-1)*p/100+0.5)+1; printf "%.1f", a[i]/1000}'
}
echo
echo "$("$BRIG" --version 2>/dev/null | head -1), $(podman --version), $(crun --version | head -1); network $NET; $ROUNDS rounds, the three in rotated order per round; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
echo "| command | median ms | p25-p75 ms | brig container run / it |"
echo "|---|---|---|---|"
# shellcheck disable=SC2086
mb=$(pct 50 ${t[0]})
for i in 0 1 2; do
    # shellcheck disable=SC2086
    m=$(pct 50 ${t[$i]}); lo=$(pct 25 ${t[$i]}); hi=$(pct 75 ${t[$i]})
    echo "| ${names[$i]} | $m | $lo-$hi | $(echo "$mb / $m" | bc -l | xargs printf "%.2f") |"
done
