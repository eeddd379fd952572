//! Just enough ELF64 (little-endian) reading for kernels and modules: program-header notes (the
//! PVH entry note of a vmlinux) and named sections (`.modinfo` of a module).

use anyhow::{bail, Result};

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

pub fn is_elf64le(b: &[u8]) -> bool {
    b.len() >= 64 && &b[..4] == b"\x7fELF" && b[4] == 2 && b[5] == 1
}

/// The contents of the section called `name`, if the file has one.
pub fn section<'a>(b: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    if !is_elf64le(b) {
        bail!("not a 64-bit little-endian ELF file");
    }
    let trunc = || anyhow::anyhow!("truncated ELF section table");
    let shoff = u64_at(b, 0x28).ok_or_else(trunc)? as usize;
    let shentsize = u16_at(b, 0x3a).ok_or_else(trunc)? as usize;
    let shnum = u16_at(b, 0x3c).ok_or_else(trunc)? as usize;
    let shstrndx = u16_at(b, 0x3e).ok_or_else(trunc)? as usize;
    let sh = |i: usize| -> Option<(u32, usize, usize)> {
        let o = shoff + i * shentsize;
        Some((
            u32_at(b, o)?,
            u64_at(b, o + 0x18)? as usize,
            u64_at(b, o + 0x20)? as usize,
        ))
    };
    let (_, stroff, strsize) = sh(shstrndx).ok_or_else(trunc)?;
    let strtab = b.get(stroff..stroff + strsize).ok_or_else(trunc)?;
    for i in 0..shnum {
        let (n, off, size) = sh(i).ok_or_else(trunc)?;
        let Some(rest) = strtab.get(n as usize..) else {
            continue;
        };
        let end = rest.iter().position(|c| *c == 0).unwrap_or(rest.len());
        if &rest[..end] == name.as_bytes() {
            return Ok(Some(b.get(off..off + size).ok_or_else(trunc)?));
        }
    }
    Ok(None)
}

/// Whether a vmlinux has the Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY), which QEMU needs
/// to boot it directly.
pub fn has_pvh_note(b: &[u8]) -> bool {
    const PT_NOTE: u32 = 4;
    const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
    if !is_elf64le(b) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) =
        (u64_at(b, 0x20), u16_at(b, 0x36), u16_at(b, 0x38))
    else {
        return false;
    };
    for i in 0..phnum as usize {
        let o = phoff as usize + i * phentsize as usize;
        if u32_at(b, o) != Some(PT_NOTE) {
            continue;
        }
        let (Some(off), Some(size)) = (u64_at(b, o + 8), u64_at(b, o + 0x20)) else {
            continue;
        };
        let Some(notes) = b.get(off as usize..(off + size) as usize) else {
            continue;
        };
        let mut p = 0usize;
        while p + 12 <= notes.len() {
            let namesz = u32_at(notes, p).unwrap_or(0) as usize;
            let descsz = u32_at(notes, p + 4).unwrap_or(0) as usize;
            let ty = u32_at(notes, p + 8).unwrap_or(0);
            let name = notes.get(p + 12..p + 12 + namesz).unwrap_or(&[]);
            if ty == XEN_ELFNOTE_PHYS32_ENTRY && name.starts_with(b"Xen") {
                return true;
            }
            p += 12 + namesz.div_ceil(4) * 4 + descsz.div_ceil(4) * 4;
        }
    }
    false
}

/// The `key=value` strings of a module's `.modinfo` section.
pub fn modinfo(b: &[u8]) -> Result<Vec<(String, String)>> {
    let Some(sec) = section(b, ".modinfo")? else {
        bail!("no .modinfo section");
    };
    Ok(sec
        .split(|c| *c == 0)
        .filter_map(|kv| {
            let s = String::from_utf8_lossy(kv);
            let (k, v) = s.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect())
}
