#!/bin/busybox sh
# brig-vm guest init (busybox sh), written into the initramfs by the harness.
#
# Stage 1, in the initramfs: bind-mount the initramfs, move that mount over / and chroot into
# it, because pivot_root (which every container runtime uses) fails on the initramfs root itself.
# Stage 2: mount the API filesystems, load the modules, set up cgroups for the mode named by
# `brig.cgroup=` on the kernel command line, run /etc/brig-vm/payload, send its report and a
# status over virtio-serial ports, and end QEMU through isa-debug-exit with a code that says how
# it went:
#   0x40 + rc   the payload exited with rc (0..63)
#   0x7f        the payload exited with 64 or more (killed by a signal: see payload_rc)
#   0x20 + n    the init failed at step n (the console says why)
# QEMU exits with (code << 1) | 1. The init never writes 0, so QEMU's exit 1 can only mean
# pvpanic (a kernel panic) or a QEMU error.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

say() { echo "brig-vm: $*" >/dev/console; }

exit_vm() {
	printf "\\$(printf %o "$1")" | dd of=/dev/port bs=1 seek=244 count=1 conv=notrunc 2>/dev/null
	# Still here: there is no debug-exit device. Power off (QEMU then exits 0: "no result").
	say "isa-debug-exit did not end the VM; powering off"
	poweroff -f
}

fail() {
	say "FAILED at step $1: $2"
	[ -e /dev/port ] || mount -t devtmpfs devtmpfs /dev 2>/dev/null
	exit_vm $((0x20 + $1))
}

if [ "$1" != stage2 ]; then
	/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
	/bin/busybox mount -t proc proc /proc 2>/dev/null && read -r up _ </proc/uptime && umount /proc
	say "stage 1 at ${up}s: moving a bind mount of the initramfs over /"
	# A bind mount of the initramfs moved over / is a root with a parent mount, which
	# pivot_root accepts; no copy needed.
	mkdir -p /newroot || fail 1 "mkdir /newroot"
	mount --bind / /newroot || fail 1 "bind-mount / on /newroot"
	umount /dev
	cd /newroot || fail 1 "cd /newroot"
	mount --move . / || fail 1 "move the bind mount over /"
	exec chroot . /init stage2
	fail 1 "chroot"
fi

mount -t proc proc /proc || fail 2 "mount /proc"
mount -t sysfs sysfs /sys || fail 2 "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail 2 "mount /dev"
exec </dev/console >/dev/console 2>&1
read -r up _ </proc/uptime
UPTIME_INIT=$up
mkdir -p /dev/pts /dev/shm /dev/mqueue /run /tmp /var/tmp
mount -t devpts -o gid=5,mode=620,ptmxmode=0666 devpts /dev/pts || fail 2 "mount /dev/pts"
mount -t tmpfs -o mode=1777 shm /dev/shm || fail 2 "mount /dev/shm"
mount -t mqueue mqueue /dev/mqueue || fail 2 "mount /dev/mqueue"
mount -t tmpfs -o mode=0755 run /run || fail 2 "mount /run"
mount -t tmpfs -o mode=1777 tmp /tmp || fail 2 "mount /tmp"
# Like a systemd host: shared propagation on /.
mount --make-rshared / || fail 2 "make / shared"
hostname brig-vm
ip link set lo up || fail 2 "bring lo up"

n=0
while read -r m; do
	[ -n "$m" ] || continue
	insmod "/lib/modules/brig-vm/$m.ko" || fail 3 "insmod $m"
	n=$((n + 1))
done </etc/brig-vm/modules
MODULES=$n
read -r up _ </proc/uptime
say "stage 2 at ${UPTIME_INIT}s, $MODULES modules loaded at ${up}s"

MODE=
for w in $(cat /proc/cmdline); do
	case "$w" in brig.cgroup=*) MODE=${w#brig.cgroup=} ;; esac
done
CG=/sys/fs/cgroup

# One v1 hierarchy per controller given; a controller this kernel cannot mount as v1 (Debian's
# 6.12 has no v1 memory or cpuset) is left out and said so.
mount_v1() {
	for c in "$@"; do
		grep -q "^$c[[:space:]].*1\$" /proc/cgroups || continue
		mkdir -p "$CG/$c"
		if ! mount -t cgroup -o "$c" cgroup "$CG/$c" 2>/dev/null; then
			rmdir "$CG/$c"
			say "cgroup: the $c controller cannot be mounted as v1 on this kernel"
		fi
	done
}

case "$MODE" in
v2)
	mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 "$CG" || fail 4 "mount cgroup2"
	mkdir "$CG/init" || fail 4 "mkdir the init cgroup"
	for p in $(cat "$CG/cgroup.procs"); do
		echo "$p" >"$CG/init/cgroup.procs" 2>/dev/null
	done
	for c in $(cat "$CG/cgroup.controllers"); do
		echo "+$c" >"$CG/cgroup.subtree_control" || fail 4 "enable $c in cgroup.subtree_control"
	done
	;;
v1)
	mount -t tmpfs -o mode=0755 cgroup "$CG" || fail 4 "mount the cgroup tmpfs"
	mount_v1 $(awk 'NR > 1 && $4 == 1 { print $1 }' /proc/cgroups)
	;;
hybrid)
	# Like the development host: v1 for these, cgroup2 at unified with the rest.
	mount -t tmpfs -o mode=0755 cgroup "$CG" || fail 4 "mount the cgroup tmpfs"
	mount_v1 cpu cpuacct cpuset memory devices freezer blkio pids
	mkdir -p "$CG/systemd" "$CG/unified"
	mount -t cgroup -o none,name=systemd cgroup "$CG/systemd" || fail 4 "mount name=systemd"
	mount -t cgroup2 cgroup2 "$CG/unified" || fail 4 "mount cgroup2 at unified"
	;;
*) fail 4 "no cgroup mode (want brig.cgroup=v2, v1 or hybrid on the kernel command line)" ;;
esac
say "cgroup mode $MODE: $(awk '$3 ~ /^cgroup/ { printf "%s(%s) ", $2, $3 }' /proc/mounts)"

port() {
	for d in /sys/class/virtio-ports/*; do
		[ "$(cat "$d/name" 2>/dev/null)" = "$1" ] && echo "/dev/${d##*/}" && return 0
	done
	return 1
}
REPORT_PORT=$(port brig.report) || fail 5 "no virtio-serial port brig.report"
STATUS_PORT=$(port brig.status) || fail 5 "no virtio-serial port brig.status"

read -r up _ </proc/uptime
UPTIME_PAYLOAD=$up
say "init ready at ${UPTIME_PAYLOAD}s: $(uname -r), $MODULES modules, running the payload"
mkdir -p /run/brig-vm
/etc/brig-vm/payload
rc=$?
read -r up _ </proc/uptime
say "payload exited $rc at ${up}s"
{
	echo "kernel=$(uname -r)"
	echo "cgroup_mode=$MODE"
	echo "modules=$MODULES"
	echo "uptime_init=$UPTIME_INIT"
	echo "uptime_payload=$UPTIME_PAYLOAD"
	echo "uptime_done=$up"
	echo "payload_rc=$rc"
} >"$STATUS_PORT"
if [ -f /run/brig-vm/report ]; then
	cat /run/brig-vm/report >"$REPORT_PORT" || fail 5 "write the report to $REPORT_PORT"
fi
if [ "$rc" -lt 64 ]; then
	exit_vm $((0x40 + rc))
fi
exit_vm $((0x7f))
