//! The host side: packages installed on first use, the cache directory, shared libraries of a
//! dynamic binary.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The QEMU binary and the firmware the harness boots with.
pub const QEMU: &str = "qemu-system-x86_64";
pub const QBOOT: &str = "/usr/share/qemu/qboot.rom";

/// The workspace this crate was built in, if it is still there.
pub fn workspace_dir() -> Option<PathBuf> {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    ws.join("vm-tests/Cargo.toml").exists().then_some(ws)
}

/// `$BRIG_VM_CACHE`, else `<workspace>/target/vm-cache`, else `~/.cache/brig-vm`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("BRIG_VM_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(ws) = workspace_dir() {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| ws.join("target"));
        return target.join("vm-cache");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/brig-vm")
}

static APT: Mutex<()> = Mutex::new(());

pub fn is_root() -> bool {
    // SAFETY: geteuid takes no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `apt-get update`, best effort (its failure shows in the next apt command's error).
pub fn apt_update() {
    let _g = APT.lock().unwrap_or_else(|e| e.into_inner());
    apt_update_unlocked();
}

fn apt_update_unlocked() {
    let _ = Command::new("apt-get")
        .args(["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Installs the Debian packages that are missing, and says so on stderr.
pub fn ensure_packages(pkgs: &[&str], log: &mut dyn FnMut(&str)) -> Result<()> {
    let _g = APT.lock().unwrap_or_else(|e| e.into_inner());
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing Debian packages {missing:?}: run as root (the harness installs them) or `apt-get install {}`",
            missing.join(" ")
        );
    }
    log(&format!(
        "first use: installing {} (apt-get install)",
        missing.join(" ")
    ));
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if install() {
        return Ok(());
    }
    apt_update_unlocked();
    if !install() {
        bail!("apt-get install {} failed", missing.join(" "));
    }
    Ok(())
}

/// The packages the harness needs on the host, besides QEMU (see [`ensure_qemu`]).
pub const HOST_PACKAGES: &[&str] = &["busybox-static"];

/// The Debian package of the emulator, and the one whose version it must match.
const QEMU_PACKAGE: &str = "qemu-system-x86";
const QEMU_UTILS: &str = "qemu-utils";

fn installed_version(pkg: &str) -> Option<String> {
    let o = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}\t${Version}", pkg])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&o.stdout);
    let (status, version) = s.split_once('\t')?;
    (status.contains("install ok installed") && !version.is_empty()).then(|| version.to_string())
}

/// One line of `apt-cache madison PKG`: `pkg | version | URI suite/component arch Packages`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub version: String,
    pub uri: String,
    /// The suite without its component: `bookworm-backports`.
    pub suite: String,
}

pub fn parse_madison(out: &str) -> Vec<Offer> {
    out.lines()
        .filter_map(|l| {
            let mut cols = l.split('|').map(str::trim);
            let (_pkg, version, src) = (cols.next()?, cols.next()?, cols.next()?);
            let mut words = src.split_whitespace();
            let (uri, suite) = (words.next()?, words.next()?);
            let suite = suite.split('/').next()?;
            Some(Offer {
                version: version.to_string(),
                uri: uri.to_string(),
                suite: suite.to_string(),
            })
        })
        .collect()
}

fn madison(pkg: &str) -> Vec<Offer> {
    Command::new("apt-cache")
        .args(["madison", pkg])
        .output()
        .map(|o| parse_madison(&String::from_utf8_lossy(&o.stdout)))
        .unwrap_or_default()
}

/// The Debian release the backports of a version like `1:10.0.2+ds-2+deb13u1~bpo12+1` are
/// built for (`12`), if it is a backport.
pub fn backport_of(version: &str) -> Option<&str> {
    let rest = &version[version.find("~bpo")? + 4..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

fn os_codename() -> Option<String> {
    let s = std::fs::read_to_string("/etc/os-release").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// The apt source (deb822) that adds `<codename>-backports` from the same mirror that serves
/// `<codename>` itself, so no host is written down here.
pub fn backports_source(mirror: &str, codename: &str, keyring: Option<&Path>) -> String {
    let mut s = format!(
        "# Added by brig's vm-tests: the machine's {QEMU_UTILS} is a backport, and {QEMU_PACKAGE}\n\
         # must come from the same suite. Backports are not upgraded to unless asked for.\n\
         Types: deb\nURIs: {mirror}\nSuites: {codename}-backports\nComponents: main\n"
    );
    if let Some(k) = keyring {
        s.push_str(&format!("Signed-By: {}\n", k.display()));
    }
    s
}

/// Adds the backports suite of this release to apt's sources (once) and refreshes the lists.
fn add_backports(log: &mut dyn FnMut(&str)) -> Result<()> {
    let codename = os_codename().context("/etc/os-release names no VERSION_CODENAME")?;
    // The mirror that serves the release itself serves its backports too.
    let mirror = madison(QEMU_UTILS)
        .into_iter()
        .chain(madison("busybox-static"))
        .find(|o| o.suite == codename)
        .map(|o| o.uri)
        .with_context(|| format!("no apt source serves the suite {codename}"))?;
    let keyring = Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
    let file = PathBuf::from(format!(
        "/etc/apt/sources.list.d/brig-vm-tests-{codename}-backports.sources"
    ));
    log(&format!(
        "first use: adding {codename}-backports to apt's sources ({}), for {QEMU_PACKAGE}",
        file.display()
    ));
    std::fs::write(
        &file,
        backports_source(&mirror, &codename, keyring.exists().then_some(keyring)),
    )
    .with_context(|| format!("writing {}", file.display()))?;
    apt_update_unlocked();
    Ok(())
}

/// The last lines of an apt error, for a message.
fn tail(bytes: &[u8], n: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n  ")
}

/// Installs QEMU's x86 system emulator, in the version that fits the `qemu-utils` the machine
/// already has (Debian's qemu-system-x86 needs qemu-system-common of its own version, which a
/// newer qemu-utils breaks). A qemu-utils from backports brings the backports suite into apt's
/// sources. Nothing the machine has is removed or downgraded (`--no-remove`; apt never
/// downgrades unasked). Returns `qemu-system-x86_64 --version`'s first line.
pub fn ensure_qemu(log: &mut dyn FnMut(&str)) -> Result<String> {
    {
        let _g = APT.lock().unwrap_or_else(|e| e.into_inner());
        if installed_version(QEMU_PACKAGE).is_none() {
            install_qemu(log)?;
        }
    }
    qemu_version()
}

fn install_qemu(log: &mut dyn FnMut(&str)) -> Result<()> {
    let utils = installed_version(QEMU_UTILS);
    let by_hand = match &utils {
        Some(v) if backport_of(v).is_some() => format!(
            "add the {}-backports suite to apt's sources, then `apt-get install \
             --no-install-recommends -t <that suite> {QEMU_PACKAGE}={v}`",
            os_codename().unwrap_or_else(|| "<release>".into())
        ),
        Some(v) => format!("apt-get install --no-install-recommends {QEMU_PACKAGE}={v}"),
        None => format!("apt-get install --no-install-recommends {QEMU_PACKAGE}"),
    };
    if !is_root() {
        bail!(
            "{QEMU_PACKAGE} is not installed: run as root (the harness installs it) or: {by_hand}"
        );
    }
    // Which version, from which suite: the one matching qemu-utils, else apt's candidate.
    let mut args: Vec<String> = vec![
        "install".into(),
        "-y".into(),
        "-qq".into(),
        "--no-install-recommends".into(),
        "--no-remove".into(),
    ];
    match &utils {
        Some(v) => {
            let mut offer = madison(QEMU_PACKAGE).into_iter().find(|o| &o.version == v);
            if offer.is_none() {
                apt_update_unlocked();
                offer = madison(QEMU_PACKAGE).into_iter().find(|o| &o.version == v);
            }
            if offer.is_none() && backport_of(v).is_some() {
                add_backports(log)?;
                offer = madison(QEMU_PACKAGE).into_iter().find(|o| &o.version == v);
            }
            let offer = offer.with_context(|| {
                format!(
                    "no apt source offers {QEMU_PACKAGE} {v}, the version of the installed \
                     {QEMU_UTILS}; by hand: {by_hand}"
                )
            })?;
            log(&format!(
                "first use: installing {QEMU_PACKAGE} {v} from {} to match {QEMU_UTILS} {v} (apt-get install)",
                offer.suite
            ));
            args.extend(["-t".into(), offer.suite, format!("{QEMU_PACKAGE}={v}")]);
        }
        None => {
            apt_update_unlocked();
            log(&format!(
                "first use: installing {QEMU_PACKAGE} (apt-get install)"
            ));
            args.push(QEMU_PACKAGE.into());
        }
    }
    let out = Command::new("apt-get")
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .context("running apt-get")?;
    if !out.status.success() {
        bail!(
            "installing {QEMU_PACKAGE} failed: `apt-get {}` said:\n  {}\nby hand: {by_hand}",
            args.join(" "),
            tail(&out.stderr, 8)
        );
    }
    Ok(())
}

/// The first line of `qemu-system-x86_64 --version`, asked once.
pub fn qemu_version() -> Result<String> {
    static V: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let o = Command::new(QEMU)
            .arg("--version")
            .output()
            .map_err(|e| format!("running {QEMU} --version: {e}"))?;
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .map(str::to_string)
            .filter(|l| o.status.success() && !l.is_empty())
            .ok_or_else(|| format!("{QEMU} --version printed nothing useful"))
    })
    .clone()
    .map_err(|e| anyhow::anyhow!(e))
}

/// A file of the host to put into the guest at the same path.
#[derive(Clone, Debug)]
pub struct HostFile {
    pub guest_path: String,
    pub host_path: PathBuf,
}

/// The shared libraries (and the dynamic loader) a binary needs, from `ldd`; empty for a
/// static binary.
pub fn shared_libraries(binary: &Path) -> Result<Vec<HostFile>> {
    if brig_conformance::setup::ensure_static(binary).is_ok() {
        return Ok(Vec::new());
    }
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .with_context(|| format!("running ldd {}", binary.display()))?;
    if !out.status.success() {
        bail!(
            "ldd {} failed: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut v = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = match line.split_once("=>") {
            Some((_, r)) => r.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            v.push(HostFile {
                guest_path: p.to_string(),
                host_path: PathBuf::from(p),
            });
        } else if line.contains("not found") {
            bail!(
                "{}: a library is missing: {}",
                binary.display(),
                line.trim()
            );
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn madison_lines_give_version_uri_and_suite() {
        let out = "qemu-system-x86 | 1:10.0.2+ds-2+deb13u1~bpo12+1 | http://mirror.example/debian bookworm-backports/main amd64 Packages\n\
                   qemu-system-x86 | 1:7.2+dfsg-7+deb12u18+b3 | http://mirror.example/debian bookworm/main amd64 Packages\n\
                   garbage\n";
        let v = parse_madison(out);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].version, "1:10.0.2+ds-2+deb13u1~bpo12+1");
        assert_eq!(v[0].suite, "bookworm-backports");
        assert_eq!(v[1].uri, "http://mirror.example/debian");
        assert_eq!(v[1].suite, "bookworm");
    }

    #[test]
    fn backports_are_told_apart_by_their_version() {
        assert_eq!(backport_of("1:10.0.2+ds-2+deb13u1~bpo12+1"), Some("12"));
        assert_eq!(backport_of("1:7.2+dfsg-7+deb12u18+b3"), None);
        assert_eq!(backport_of("1.0~bpo"), None);
    }

    #[test]
    fn the_backports_source_reuses_the_mirror_and_keyring() {
        let s = backports_source(
            "http://mirror.example/debian",
            "bookworm",
            Some(Path::new("/k.gpg")),
        );
        assert!(s.contains("URIs: http://mirror.example/debian\n"));
        assert!(s.contains("Suites: bookworm-backports\n"));
        assert!(s.contains("Signed-By: /k.gpg\n"));
        assert!(!backports_source("u", "c", None).contains("Signed-By"));
    }
}
