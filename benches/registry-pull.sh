#!/bin/bash
# Pull of a multi-layer image from a local registry: `brig image pull` against
# `skopeo copy docker://... oci:DIR` (issue 18). Run as root from the workspace root:
#
#   benches/registry-pull.sh [BRIG_BIN] [RUNS] [LAYERS] [MIB_PER_LAYER]
#
# Defaults: target/release/brig, 5 runs, 6 layers of 8 MiB (incompressible, so
# gzip does not shrink them) plus a busybox layer. It starts Debian's
# docker-registry on 127.0.0.1 (a free port, a temp storage dir, no auth), pushes
# the image with brig, then times, alternating, RUNS cold pulls of each tool into
# a fresh directory (brig: a fresh --image-root; skopeo: a fresh OCI dir). Both
# verify every blob; brig also unpacks every layer into its store (skopeo copy
# only writes blobs), so brig does more work per pull. Prints a Markdown table.
# Everything it made goes on exit.
set -euo pipefail

BRIG=${1:-target/release/brig}
RUNS=${2:-5}
LAYERS=${3:-6}
MIB=${4:-8}
BRIG=$(readlink -f "$BRIG")
command -v skopeo >/dev/null || { echo "skopeo is missing" >&2; exit 1; }
if [ ! -x /usr/bin/docker-registry ]; then
    echo "installing docker-registry (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-registry >&2
fi

W=$(mktemp -d /tmp/brig-regbench.XXXXXX)
REG_PID=
cleanup() {
    if [ -n "$REG_PID" ]; then
        kill "$REG_PID" 2>/dev/null || true
        wait "$REG_PID" 2>/dev/null || true
    fi
    rm -rf "$W"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$W/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $W/data
http:
  addr: 127.0.0.1:$PORT
EOF
/usr/bin/docker-registry serve "$W/config.yml" >"$W/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
    sleep 0.1
done

# The image: busybox + LAYERS noise layers, as an OCI layout imported into brig.
L="$W/layout"
mkdir -p "$L/blobs/sha256" "$W/rootfs/bin"
put() { # file -> digest (moves it into the layout)
    local d; d=$(sha256sum "$1" | cut -d' ' -f1)
    mv "$1" "$L/blobs/sha256/$d"; echo "$d"
}
cp /bin/busybox "$W/rootfs/bin/" && ln -s busybox "$W/rootfs/bin/sh"
layers=() diffs=()
tar -C "$W/rootfs" -cf "$W/l0.tar" .
for i in $(seq "$LAYERS"); do
    mkdir -p "$W/n$i" && head -c "$((MIB << 20))" /dev/urandom >"$W/n$i/noise$i"
    tar -C "$W/n$i" -cf "$W/l$i.tar" .
done
for i in $(seq 0 "$LAYERS"); do
    diffs+=("sha256:$(sha256sum "$W/l$i.tar" | cut -d' ' -f1)")
    gzip -1 "$W/l$i.tar"
    size=$(stat -c %s "$W/l$i.tar.gz")
    layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$(put "$W/l$i.tar.gz")\",\"size\":$size}")
done
arch=$(dpkg --print-architecture)
diff_json=$(printf '"%s",' "${diffs[@]}"); diff_json="[${diff_json%,}]"
layer_json=$(printf '%s,' "${layers[@]}"); layer_json="[${layer_json%,}]"
echo "{\"architecture\":\"$arch\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":$diff_json}}" >"$W/cfg"
csize=$(stat -c %s "$W/cfg"); cd_=$(put "$W/cfg")
echo "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$cd_\",\"size\":$csize},\"layers\":$layer_json}" >"$W/m"
msize=$(stat -c %s "$W/m"); md=$(put "$W/m")
echo '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"
echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$md\",\"size\":$msize,\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}" >"$L/index.json"

REF=127.0.0.1:$PORT/bench/multi:v1
export DOCKER_CONFIG=$W/docker
"$BRIG" --image-root "$W/src" image import "$L" "$REF" >/dev/null
"$BRIG" --image-root "$W/src" image push "$REF" >/dev/null
total=$(du -sb "$L/blobs" | cut -f1)

now() { date +%s.%N; }
declare -a tb ts ti
for r in $(seq "$RUNS"); do
    rm -rf "$W/dst" "$W/oci" "$W/imp"
    sync; t0=$(now)
    "$BRIG" --image-root "$W/dst" image pull "$REF" >/dev/null
    t1=$(now)
    skopeo copy -q --src-tls-verify=false "docker://$REF" "oci:$W/oci:v1" >/dev/null
    t2=$(now)
    # The same verification and unpacking with no network: what of brig's
    # time is not the download.
    "$BRIG" --image-root "$W/imp" image import "$L" local:v1 >/dev/null
    t3=$(now)
    tb+=("$(echo "$t1 - $t0" | bc)"); ts+=("$(echo "$t2 - $t1" | bc)"); ti+=("$(echo "$t3 - $t2" | bc)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
echo "image: $((LAYERS + 1)) layers, $((total >> 20)) MiB of blobs; $RUNS cold pulls each, alternating; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
echo "| tool | median s | min s | max s | what it does |"
echo "|---|---|---|---|---|"
for t in "brig image pull" "skopeo copy" "brig image import (no network)"; do
    case $t in
    "brig image pull") v=("${tb[@]}"); what="download 4 at a time, verify, unpack every layer, record" ;;
    "skopeo copy") v=("${ts[@]}"); what="download, verify, write an OCI layout (no unpacking)" ;;
    *) v=("${ti[@]}"); what="the same image from its OCI layout on disk: copy, verify, unpack" ;;
    esac
    printf '| %s | %.2f | %.2f | %.2f | %s |\n' "$t" "$(median "${v[@]}")" \
        "$(printf '%s\n' "${v[@]}" | sort -n | head -1)" "$(printf '%s\n' "${v[@]}" | sort -n | tail -1)" "$what"
done
