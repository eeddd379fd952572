//! Credentials in docker's config.json format, and `login`'s check of them.
//!
//! `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`:
//! `{"auths": {"HOST[:PORT]": {"auth": base64("user:password")}}}`, mode 0600.
//! Other keys in the file (credHelpers, psFormat...) are kept as they are.

use std::path::PathBuf;

use base64::Engine as _;

use super::{reg_err, Endpoint};
use crate::image::{ImageError, Result};

/// Where the credentials live.
pub fn config_path() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("config.json"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            reg_err("neither DOCKER_CONFIG nor HOME is set: nowhere to keep credentials")
        })?;
    Ok(PathBuf::from(home).join(".docker/config.json"))
}

fn load() -> Result<(PathBuf, serde_json::Value)> {
    let p = config_path()?;
    match std::fs::read(&p) {
        Ok(d) if d.iter().all(u8::is_ascii_whitespace) => Ok((p, serde_json::json!({}))),
        Ok(d) => {
            let v: serde_json::Value = serde_json::from_slice(&d)
                .map_err(|e| reg_err(format!("{}: not valid JSON: {e}", p.display())))?;
            if !v.is_object() {
                return Err(reg_err(format!("{}: not a JSON object", p.display())));
            }
            Ok((p, v))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((p, serde_json::json!({}))),
        Err(e) => Err(ImageError::io(&p, e)),
    }
}

/// Write the file with mode 0600 (its directory 0700 when brig makes it):
/// a temp file made with that mode, synced, renamed over the old one.
fn save(p: &std::path::Path, v: &serde_json::Value) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let dir = p.parent().expect("config.json has a parent");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ImageError::io(dir, e))?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let data = serde_json::to_vec_pretty(v).map_err(|e| reg_err(e.to_string()))?;
    let r = (|| {
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // The umask cannot widen 0600, but a stricter one must not narrow it
        // below what docker writes either.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(&data)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, p)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.map_err(|e| ImageError::io(p, e))
}

/// The keys a registry's credentials may be stored under: its name, and for
/// Docker Hub the names docker itself uses.
fn keys_for(host: &str) -> Vec<String> {
    let mut k = vec![host.to_string()];
    if matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        k.extend(
            [
                "https://index.docker.io/v1/",
                "index.docker.io",
                "docker.io",
            ]
            .map(String::from),
        );
    }
    k.push(format!("https://{host}"));
    k.push(format!("http://{host}"));
    k
}

/// The stored user and password for `host`, if any.
pub fn credentials(host: &str) -> Result<Option<(String, String)>> {
    let (p, v) = load()?;
    let Some(auths) = v.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
    for k in keys_for(host) {
        let Some(entry) = auths.get(&k) else { continue };
        let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) else {
            continue;
        };
        let bad = || {
            reg_err(format!(
                "{}: auths.{k}.auth: not base64 of user:password",
                p.display()
            ))
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad())?;
        let s = String::from_utf8(raw).map_err(|_| bad())?;
        let (u, pw) = s.split_once(':').ok_or_else(bad)?;
        return Ok(Some((u.to_string(), pw.to_string())));
    }
    Ok(None)
}

/// Store credentials for `host`. Returns the file written.
pub fn store(host: &str, user: &str, password: &str) -> Result<PathBuf> {
    let (p, mut v) = load()?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let obj = v.as_object_mut().expect("checked by load");
    let auths = obj.entry("auths").or_insert_with(|| serde_json::json!({}));
    if !auths.is_object() {
        *auths = serde_json::json!({});
    }
    auths
        .as_object_mut()
        .expect("an object")
        .insert(host.to_string(), serde_json::json!({ "auth": auth }));
    save(&p, &v)?;
    Ok(p)
}

/// Forget the credentials for `host`. Returns false when there were none.
pub fn remove(host: &str) -> Result<bool> {
    let (p, mut v) = load()?;
    let mut removed = false;
    if let Some(auths) = v.get_mut("auths").and_then(|a| a.as_object_mut()) {
        for k in keys_for(host) {
            removed |= auths.remove(&k).is_some();
        }
    }
    if removed {
        save(&p, &v)?;
    }
    Ok(removed)
}

/// Check `user`/`password` against the registry as docker login does: GET
/// /v2/; on a Basic challenge, again with the credentials; on a Bearer
/// challenge, ask the token realm with them.
pub async fn check(ep: &Endpoint, user: &str, password: &str) -> Result<()> {
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .danger_accept_invalid_certs(ep.insecure)
        .build()
        .map_err(|e| reg_err(format!("login: {e}")))?;
    let url = format!("{}://{}/v2/", ep.scheme(), ep.host);
    let net = |e: reqwest::Error| reg_err(format!("login to {}: {url}: {}", ep.host, chain(&e)));
    let res = client.get(&url).send().await.map_err(net)?;
    let status = res.status();
    if status.is_success() {
        return Ok(());
    }
    if status != reqwest::StatusCode::UNAUTHORIZED {
        return Err(reg_err(format!(
            "login to {}: {url} answered {status}",
            ep.host
        )));
    }
    let challenge = res
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let refused = || {
        reg_err(format!(
            "login to {}: unauthorized: incorrect username or password",
            ep.host
        ))
    };
    let lower = challenge.to_ascii_lowercase();
    if lower.starts_with("basic") || challenge.is_empty() {
        let res = client
            .get(&url)
            .basic_auth(user, Some(password))
            .send()
            .await
            .map_err(net)?;
        return match res.status() {
            s if s.is_success() => Ok(()),
            reqwest::StatusCode::UNAUTHORIZED => Err(refused()),
            s => Err(reg_err(format!("login to {}: {url} answered {s}", ep.host))),
        };
    }
    if lower.starts_with("bearer") {
        let param = |name: &str| -> Option<String> {
            let rest = &challenge[6..];
            for part in rest.split(',') {
                let (k, v) = part.trim().split_once('=')?;
                if k.trim().eq_ignore_ascii_case(name) {
                    return Some(v.trim().trim_matches('"').to_string());
                }
            }
            None
        };
        let realm = param("realm").ok_or_else(|| {
            reg_err(format!(
                "login to {}: a Bearer challenge without a realm: {challenge}",
                ep.host
            ))
        })?;
        let mut q = vec![("account", user.to_string())];
        if let Some(s) = param("service") {
            q.push(("service", s));
        }
        let res = client
            .get(&realm)
            .query(&q)
            .basic_auth(user, Some(password))
            .send()
            .await
            .map_err(|e| reg_err(format!("login to {}: {realm}: {}", ep.host, chain(&e))))?;
        return match res.status() {
            s if s.is_success() => Ok(()),
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => Err(refused()),
            s => Err(reg_err(format!(
                "login to {}: the token service {realm} answered {s}",
                ep.host
            ))),
        };
    }
    Err(reg_err(format!(
        "login to {}: an authentication scheme brig does not speak: {challenge}",
        ep.host
    )))
}

/// An error with its causes, on one line (reqwest's own Display says little).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        cur = c.source();
    }
    s
}
