#!/usr/bin/env bash
# Profile create -> start -> delete of one runtime with strace, as
# docs/benchmarks.md reports it. Run as root:
#
#   benches/profile.sh [RUNTIME_BIN] [ROUNDS]      # default: target/release/brig, 5
#
# For each round it traces `create` (with -f: the container init too, until it
# execs /bin/true and exits), `start` and `delete` separately, and writes to
# target/brig-benches/profile-NAME/:
#   PHASE.count.N   strace -c -f: syscall counts and system time
#   PHASE.trace.N   strace -f -ttt -T: every syscall with its duration
# then prints, per phase, the median syscall count and the slowest syscalls
# (where the wall time goes). The bundle is the bench's base config
# (pid, ipc, uts, mount namespaces; /proc and /dev mounts), built in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/brig}
ROUNDS=${2:-5}
BIN=$(readlink -f "$(command -v "$BIN")")
NAME=$(basename "$BIN")
OUT=target/brig-benches/profile-$NAME
rm -rf "$OUT" && mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/brig-profile.XXXXXX)
cleanup() {
    for id in $("$BIN" --root "$TMP/root" list -q 2>/dev/null); do
        "$BIN" --root "$TMP/root" delete --force "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

mkdir -p "$TMP/b/rootfs/bin" "$TMP/b/rootfs/proc" "$TMP/b/rootfs/dev"
cp /bin/busybox "$TMP/b/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$TMP/b/rootfs/bin/$a"; done
cat > "$TMP/b/config.json" <<EOF
{"ociVersion": "1.0.2",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"],
   "env": ["PATH=/bin"], "cwd": "/",
   "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
   "noNewPrivileges": true},
 "root": {"path": "$TMP/b/rootfs"}, "hostname": "bench",
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}],
 "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}}
EOF

status() { "$BIN" --root "$TMP/root" state "$1" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }

for i in $(seq 1 "$ROUNDS"); do
    for mode in count trace; do
        id=p$i$mode
        if [ $mode = count ]; then opts=(-f -c -o); else opts=(-f -ttt -T -o); fi
        # create: strace follows the init, which lives until start releases it.
        strace "${opts[@]}" "$OUT/create.$mode.$i" "$BIN" --root "$TMP/root" create -b "$TMP/b" "$id" \
            </dev/null >/dev/null 2>&1 &
        tracer=$!
        for _ in $(seq 1 500); do [ "$(status "$id")" = created ] && break; sleep 0.01; done
        strace "${opts[@]}" "$OUT/start.$mode.$i" "$BIN" --root "$TMP/root" start "$id"
        wait "$tracer"
        strace "${opts[@]}" "$OUT/delete.$mode.$i" "$BIN" --root "$TMP/root" delete "$id"
    done
done

python3 - "$OUT" "$ROUNDS" <<'EOF'
import re, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
for phase in ["create", "start", "delete"]:
    totals, per_call = [], {}
    for i in range(1, rounds + 1):
        text = open(f"{out}/{phase}.count.{i}").read()
        m = re.search(r"^100\.00\s+\S+\s+\S+\s+(\d+)\s+(\d+)?", text, re.M)
        if m:
            totals.append(int(m.group(1)))
        for line in text.splitlines():
            f = line.split()
            if len(f) >= 5 and re.match(r"^[\d.]+$", f[0]) and f[-1] != "total":
                per_call.setdefault(f[-1], []).append(int(f[3]))
    print(f"== {phase}: median {statistics.median(totals) if totals else '?'} syscalls "
          f"(strace -c -f, {rounds} rounds)")
    top = sorted(per_call.items(), key=lambda kv: -statistics.median(kv[1]))[:12]
    print("   most frequent: " + ", ".join(f"{k} {statistics.median(v):g}" for k, v in top))
    # Wall time: first to last syscall of the traced process tree; the slowest calls.
    walls, slow = [], {}
    for i in range(1, rounds + 1):
        lines = open(f"{out}/{phase}.trace.{i}").read().splitlines()
        ts = [float(l.split()[1]) for l in lines if re.match(r"^\d+ \d+\.\d+ ", l)]
        if ts:
            walls.append((ts[-1] - ts[0]) * 1000)
        for l in lines:
            m = re.match(r"^\d+ [\d.]+ (\w+)\((.{0,70}).*<([\d.]+)>$", l)
            if m and not (m.group(1) == "openat" and ("exec.fifo" in l or "/proc/self/fd/" in l) and phase == "create") \
                    and m.group(1) not in ("wait4", "poll", "ppoll", "recvmsg", "read", "clock_nanosleep"):
                key = m.group(1) + "(" + re.sub(r"\d{3,}", "N", m.group(2)).split(",")[0]
                slow.setdefault(key, []).append(float(m.group(3)) * 1000)
    print(f"   wall (traced, first to last syscall): median {statistics.median(walls):.2f} ms")
    tops = sorted(slow.items(), key=lambda kv: -sum(kv[1]) / rounds)[:10]
    for k, v in tops:
        print(f"   {sum(v) / rounds:7.2f} ms/round  {len(v) / rounds:5.1f} calls  {k}")
EOF
echo "raw strace output: $OUT" >&2
