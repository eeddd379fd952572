//! Kernel modules for the guest: the wanted ones and their dependencies, from the module tree
//! of a kernel package, decompressed on the host and ordered so that `insmod` in list order works.
//!
//! Dependencies come from each module's own `.modinfo` (`depends=`), so no modules.dep is needed
//! (Debian's packages do not ship one: depmod runs at install time). Modules built into the
//! kernel (modules.builtin) need no file.

use crate::elf;
use crate::vmlinux::Compression;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The modules every guest loads: the virtio transports, the report port, 9p, overlay, the
/// network devices and filters a container engine uses, a block device for the io checks, and
/// pvpanic (the ISA device, found through ACPI) so that a panic ends QEMU at once.
pub const WANTED: &[&str] = &[
    "virtio_pci",
    "virtio_console",
    "virtio_blk",
    "9pnet_virtio",
    "9p",
    "overlay",
    "veth",
    "bridge",
    "br_netfilter",
    "nf_tables",
    "pvpanic_mmio",
];

/// One module to load, with its (decompressed) contents.
#[derive(Clone, Debug)]
pub struct Module {
    pub name: String,
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, Default)]
pub struct ModuleSet {
    /// In load order: every module after its dependencies.
    pub load_order: Vec<Module>,
    /// Wanted modules that are built into the kernel.
    pub builtin: Vec<String>,
}

/// `9pnet-virtio` and `9pnet_virtio` are the same module.
pub fn canonical(name: &str) -> String {
    name.replace('-', "_")
}

fn module_name(file: &str) -> Option<(String, Option<Compression>)> {
    for (ext, c) in [
        (".ko", None),
        (".ko.xz", Some(Compression::Xz)),
        (".ko.zst", Some(Compression::Zstd)),
        (".ko.gz", Some(Compression::Gzip)),
    ] {
        if let Some(stem) = file.strip_suffix(ext) {
            return Some((canonical(stem), c));
        }
    }
    None
}

fn walk(dir: &Path, found: &mut BTreeMap<String, (PathBuf, Option<Compression>)>) -> Result<()> {
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let ft = e.file_type()?;
        if ft.is_dir() {
            walk(&e.path(), found)?;
        } else if let Some((name, c)) = module_name(&e.file_name().to_string_lossy()) {
            found.entry(name).or_insert((e.path(), c));
        }
    }
    Ok(())
}

/// Resolves `wanted` (and their dependencies) in `modules_dir` (a `/lib/modules/<release>`).
pub fn resolve(modules_dir: &Path, wanted: &[&str]) -> Result<ModuleSet> {
    let builtin: BTreeSet<String> = fs::read_to_string(modules_dir.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.rsplit('/').next())
        .filter_map(module_name)
        .map(|(n, _)| n)
        .collect();
    let mut files = BTreeMap::new();
    walk(modules_dir, &mut files)?;
    let mut set = ModuleSet::default();
    let mut done = BTreeSet::new();
    for w in wanted {
        let w = canonical(w);
        if builtin.contains(&w) {
            set.builtin.push(w);
            continue;
        }
        visit(
            &w,
            &files,
            &builtin,
            &mut done,
            &mut Vec::new(),
            &mut set.load_order,
        )?;
    }
    Ok(set)
}

fn visit(
    name: &str,
    files: &BTreeMap<String, (PathBuf, Option<Compression>)>,
    builtin: &BTreeSet<String>,
    done: &mut BTreeSet<String>,
    stack: &mut Vec<String>,
    out: &mut Vec<Module>,
) -> Result<()> {
    if done.contains(name) || builtin.contains(name) {
        return Ok(());
    }
    if stack.iter().any(|s| s == name) {
        bail!("module dependency cycle: {} -> {name}", stack.join(" -> "));
    }
    let Some((path, comp)) = files.get(name) else {
        bail!(
            "module {name} is neither built in nor in the module tree{}",
            if stack.is_empty() {
                String::new()
            } else {
                format!(" (needed by {})", stack.join(" -> "))
            }
        );
    };
    let raw = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let data = match comp {
        None => raw,
        Some(c) => c
            .decompress(&raw)
            .with_context(|| format!("decompressing {}", path.display()))?,
    };
    let info = elf::modinfo(&data)
        .with_context(|| format!("reading the modinfo of {}", path.display()))?;
    let mut deps: Vec<String> = Vec::new();
    let (mut pre, mut post) = (Vec::new(), Vec::new());
    for (k, v) in &info {
        match k.as_str() {
            "depends" => deps.extend(v.split(',').filter(|d| !d.is_empty()).map(canonical)),
            "softdep" => {
                let (p, q) = parse_softdep(v);
                pre.extend(p);
                post.extend(q);
            }
            _ => {}
        }
    }
    stack.push(name.to_string());
    for d in &deps {
        visit(d, files, builtin, done, stack, out)?;
    }
    // A soft dependency names a module or an algorithm (`crc32c`, served by crc32c_generic);
    // one that is neither a file nor built in is left out, as modprobe would.
    for d in &pre {
        if let Some(m) = soft_target(d, files) {
            visit(&m, files, builtin, done, stack, out)?;
        }
    }
    stack.pop();
    done.insert(name.to_string());
    out.push(Module {
        name: name.to_string(),
        data,
    });
    for d in &post {
        if let Some(m) = soft_target(d, files) {
            visit(&m, files, builtin, done, &mut Vec::new(), out)?;
        }
    }
    Ok(())
}

/// `pre: a b post: c` → (\[a, b\], \[c\]).
fn parse_softdep(v: &str) -> (Vec<String>, Vec<String>) {
    let (mut pre, mut post) = (Vec::new(), Vec::new());
    let mut into_pre = true;
    for w in v.split_whitespace() {
        match w {
            "pre:" => into_pre = true,
            "post:" => into_pre = false,
            m if into_pre => pre.push(canonical(m)),
            m => post.push(canonical(m)),
        }
    }
    (pre, post)
}

fn soft_target(
    name: &str,
    files: &BTreeMap<String, (PathBuf, Option<Compression>)>,
) -> Option<String> {
    [name.to_string(), format!("{name}_generic")]
        .into_iter()
        .find(|n| files.contains_key(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 object whose only content is a `.modinfo` section.
    fn fake_ko(modinfo: &[&str]) -> Vec<u8> {
        let mut info = Vec::new();
        for kv in modinfo {
            info.extend_from_slice(kv.as_bytes());
            info.push(0);
        }
        let shstrtab = b"\0.shstrtab\0.modinfo\0";
        let mut b = vec![0u8; 64];
        b[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        let strtab_off = b.len();
        b.extend_from_slice(shstrtab);
        let info_off = b.len();
        b.extend_from_slice(&info);
        while !b.len().is_multiple_of(8) {
            b.push(0);
        }
        let shoff = b.len();
        let mut sh = |name: u32, off: usize, size: usize| {
            let mut h = [0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&(off as u64).to_le_bytes());
            h[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            b.extend_from_slice(&h);
        };
        sh(0, 0, 0);
        sh(1, strtab_off, shstrtab.len());
        sh(11, info_off, info.len());
        b[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        b[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        b[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        b[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        b
    }

    #[test]
    fn dependencies_come_first_and_builtins_are_skipped() {
        use std::io::Write;
        let t = tempfile::tempdir().unwrap();
        let k = t.path().join("kernel/fs");
        fs::create_dir_all(&k).unwrap();
        let w = |name: &str, info: &[&str]| fs::write(k.join(name), fake_ko(info)).unwrap();
        w("overlay.ko", &["license=GPL", "depends=netfs,libcrc32c"]);
        w("netfs.ko", &["depends="]);
        w("libcrc32c.ko", &["depends=", "softdep=pre: crc32c"]);
        w("crc32c_generic.ko", &["depends="]);
        // 6.12 style: xz-compressed.
        let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
        e.write_all(&fake_ko(&["depends=netfs"])).unwrap();
        fs::write(k.join("9p.ko.xz"), e.finish().unwrap()).unwrap();
        fs::write(
            t.path().join("modules.builtin"),
            "kernel/drivers/virtio/virtio_pci.ko\n",
        )
        .unwrap();
        let set = resolve(t.path(), &["virtio_pci", "overlay", "9p"]).unwrap();
        let names: Vec<&str> = set.load_order.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["netfs", "crc32c_generic", "libcrc32c", "overlay", "9p"]
        );
        assert_eq!(set.builtin, ["virtio_pci"]);
        assert!(crate::elf::is_elf64le(&set.load_order[4].data));
        let e = resolve(t.path(), &["nope"]).unwrap_err();
        assert!(format!("{e}").contains("neither built in"));
    }

    #[test]
    fn softdeps() {
        assert_eq!(
            parse_softdep("pre: crc32c post: a-b c"),
            (
                vec!["crc32c".to_string()],
                vec!["a_b".to_string(), "c".to_string()]
            )
        );
    }

    #[test]
    fn module_file_names() {
        assert_eq!(
            module_name("9pnet-virtio.ko"),
            Some(("9pnet_virtio".into(), None))
        );
        assert_eq!(
            module_name("overlay.ko.xz"),
            Some(("overlay".into(), Some(Compression::Xz)))
        );
        assert_eq!(module_name("modules.dep"), None);
    }
}
