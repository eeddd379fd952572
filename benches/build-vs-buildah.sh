#!/bin/bash
# The same Dockerfile built by `brig image build` and by `buildah bud` (issue 18),
# cold (--no-cache) and cached (nothing changed since the last build). Run as root
# from the workspace root:
#
#   benches/build-vs-buildah.sh [BRIG_BIN] [ROUNDS]
#
# Defaults: target/release/brig, 10 rounds. The base image is a rootfs tarball of
# the static /bin/busybox, imported into a private brig image root
# (`brig image import`) and into a private buildah root (`buildah pull` of the
# oci-archive `brig image save` writes), so neither build fetches anything. The
# Dockerfile: FROM, RUN (busybox --install), ENV, COPY, RUN, CMD: two RUN
# containers and three layers. buildah is Debian's 1.28 with `--storage-driver vfs`
# (a private --root/--runroot), `--layers` (one layer per instruction, as brig,
# and the cache), `--network none` (brig's default for RUN), its default runtime
# (crun). Each round builds with brig then with buildah, cold first, then cached,
# alternating. Prints a Markdown table. Everything it made goes on exit.
set -euo pipefail

BRIG=${1:-target/release/brig}
ROUNDS=${2:-10}
BRIG=$(readlink -f "$BRIG")
command -v buildah >/dev/null || { echo "buildah is missing (apt-get install buildah)" >&2; exit 1; }

W=$(mktemp -d /tmp/brig-buildbench.XXXXXX)
BH=(buildah --root "$W/bh/root" --runroot "$W/bh/run" --storage-driver vfs)
cleanup() {
    "${BH[@]}" rm --all >/dev/null 2>&1 || true
    "${BH[@]}" rmi --all --force >/dev/null 2>&1 || true
    # vfs layers may hold mounts under the root on failure
    grep -o " $W[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/rootfs/bin" "$W/ctx"
cp /bin/busybox "$W/rootfs/bin/" && ln -s busybox "$W/rootfs/bin/sh"
tar -C "$W/rootfs" -czf "$W/busybox.tar.gz" .
cat >"$W/ctx/Dockerfile" <<'DF'
FROM busybox
RUN /bin/busybox --install -s /bin
ENV GREETING="hello from a build"
COPY hello.txt /etc/hello.txt
RUN echo "$GREETING, built on $(uname -n)" >> /etc/hello.txt
CMD ["cat", "/etc/hello.txt"]
DF
echo "this line was COPYed from the build context" >"$W/ctx/hello.txt"

export BRIG_IMAGE_ROOT=$W/brig
"$BRIG" image import "$W/busybox.tar.gz" busybox >/dev/null
"$BRIG" image save -o "$W/bb.tar" busybox
id=$("${BH[@]}" pull -q "oci-archive:$W/bb.tar")
"${BH[@]}" tag "$id" busybox

brig_build() { "$BRIG" image build -q "$@" -t bench "$W/ctx" >/dev/null; }
bh_build() { "${BH[@]}" bud -q --pull=never --layers --network none "$@" -t bench "$W/ctx" >/dev/null; }
# One trial build each, untimed: it checks both work and fills the cache.
brig_build; bh_build

now() { date +%s.%N; }
declare -a bc hc bw hw
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$ROUNDS"); do
    t0=$(now); brig_build --no-cache; t1=$(now); bh_build --no-cache; t2=$(now)
    bc+=("$(echo "$t1 - $t0" | bc)"); hc+=("$(echo "$t2 - $t1" | bc)")
done
for r in $(seq "$ROUNDS"); do
    t0=$(now); brig_build; t1=$(now); bh_build; t2=$(now)
    bw+=("$(echo "$t1 - $t0" | bc)"); hw+=("$(echo "$t2 - $t1" | bc)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
row() { # name values...
    local n=$1; shift
    printf '| %s | %.3f | %.3f | %.3f |' "$n" "$(median "$@")" \
        "$(printf '%s\n' "$@" | sort -n | head -1)" "$(printf '%s\n' "$@" | sort -n | tail -1)"
}
echo
echo "$("$BRIG" --version 2>/dev/null | head -1), $(buildah --version); $ROUNDS rounds each, brig and buildah alternated; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
echo "| build | median s | min s | max s | brig/buildah (medians) |"
echo "|---|---|---|---|---|"
mb=$(median "${bc[@]}"); mh=$(median "${hc[@]}")
echo "$(row "brig, cold (--no-cache)" "${bc[@]}") $(echo "$mb / $mh" | bc -l | xargs printf "%.2f") |"
echo "$(row "buildah, cold (--no-cache)" "${hc[@]}") |"
mb=$(median "${bw[@]}"); mh=$(median "${hw[@]}")
echo "$(row "brig, cached" "${bw[@]}") $(echo "$mb / $mh" | bc -l | xargs printf "%.2f") |"
echo "$(row "buildah, cached" "${hw[@]}") |"
