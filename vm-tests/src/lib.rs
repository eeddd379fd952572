//! brig-vm-tests: boots real Debian kernels in QEMU (TCG, PVH through qboot) and runs the
//! conformance suite inside, one boot per (kernel, cgroup mode) cell. See docs/vm-matrix.md.
//!
//! - [`kernel`]: kernels as data (a Debian package or a vmlinuz + modules path), fetched and cached;
//! - [`vmlinux`]: the uncompressed vmlinux out of a bzImage;
//! - [`modules`]: the guest's modules and their dependencies, decompressed on the host;
//! - [`cpio`] and [`initramfs`]: the guest's initramfs, with the init script `init.sh`;
//! - [`qemu`]: one boot, its exit code, report and console;
//! - [`matrix`]: cells, and the preparation they share;
//! - [`report`]: the suite's JSON report, summarised.

pub mod artifacts;
pub mod cpio;
pub mod elf;
pub mod host;
pub mod initramfs;
pub mod kernel;
pub mod matrix;
pub mod modules;
pub mod qemu;
pub mod report;
pub mod vmlinux;
