#!/bin/bash
# `brig container run --rm --network none IMAGE true` against
# `podman run --rm --network none IMAGE true` with crun, and brig's own
# `brig run` of the same rootfs as an OCI bundle (issue 18). Run as root from the
# workspace root:
#
#   benches/run-vs-podman.sh [BRIG_BIN] [ROUNDS]
#
# Defaults: target/release/brig, 20 rounds. The image is a rootfs tarball of the
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
BRIG=$(readlink -f "$BRIG")
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
cleanup() {
    "${PM[@]}" rm --all --force >/dev/null 2>&1 || true
    "${PM[@]}" rmi --all --force >/dev/null 2>&1 || true
    "$BRIG" --root "$W/state" delete --force bench-run >/dev/null 2>&1 || true
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

export BRIG_IMAGE_ROOT=$W/brig
"$BRIG" image import "$W/busybox.tar.gz" bench-bb >/dev/null
"${PM[@]}" import -q "$W/busybox.tar.gz" bench-bb >/dev/null

run_brig() { "$BRIG" container run --rm --network none bench-bb true; }
run_podman() {
    "${PM[@]}" run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
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
echo "$("$BRIG" --version 2>/dev/null | head -1), $(podman --version), $(crun --version | head -1); $ROUNDS rounds, the three in rotated order per round; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
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
