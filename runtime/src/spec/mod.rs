//! config.json: loading, validation and the default spec.
//!
//! Everything here runs before the first syscall that changes the system, so that
//! bad input fails while nothing exists yet. Errors name the JSON field they are about.

mod default;
mod plan;
mod validate;

use std::path::{Path, PathBuf};

pub use default::{default_spec, default_spec_text, rootless_spec_text};
pub use oci_spec::runtime::Spec;
pub use plan::{
    compile, compile_in_memory, compile_process, compile_spec, ContainerPlan, PlanError,
    PlannedMount, ProcessPlan, SeccompListener, Sysctl,
};
pub use validate::{validate, validate_process};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("bundle {0}: not a directory")]
    NoBundle(PathBuf),
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON error, with the path of the field it is about (`process.args[0]`).
    #[error("{file}: field `{field}`: {msg}")]
    Parse {
        file: PathBuf,
        field: String,
        msg: String,
    },
    #[error("config.json: field `{field}`: {msg}")]
    Invalid { field: String, msg: String },
    #[error("config.json: field `{field}`: not supported by brig: {msg}")]
    Unsupported { field: String, msg: String },
}

impl SpecError {
    pub(crate) fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Self {
        SpecError::Invalid {
            field: field.into(),
            msg: msg.into(),
        }
    }
    pub(crate) fn unsupported(field: impl Into<String>, msg: impl Into<String>) -> Self {
        SpecError::Unsupported {
            field: field.into(),
            msg: msg.into(),
        }
    }
}

/// Parse JSON text into `T`, naming the field on error.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &[u8],
) -> Result<T, SpecError> {
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        SpecError::Parse {
            file: file.to_path_buf(),
            field: if field == "." {
                "(document)".into()
            } else {
                field
            },
            msg: e.into_inner().to_string(),
        }
    })
}

/// Read `<bundle>/config.json`. The bundle path is made absolute, because the
/// state and hooks report it and later commands may run from another directory.
pub fn load_bundle(bundle: &Path) -> Result<(PathBuf, Spec), SpecError> {
    let (bundle, mut spec) = load_raw(bundle)?;
    bind_sources_from_bundle(&mut spec, &bundle);
    Ok((bundle, spec))
}

/// [`load_bundle`] without making relative bind sources absolute: [`compile`]
/// does that with the options it parsed once.
fn load_raw(bundle: &Path) -> Result<(PathBuf, Spec), SpecError> {
    let bundle = std::path::absolute(bundle).map_err(|source| SpecError::Read {
        path: bundle.to_path_buf(),
        source,
    })?;
    if !bundle.is_dir() {
        return Err(SpecError::NoBundle(bundle));
    }
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|source| SpecError::Read {
        path: path.clone(),
        source,
    })?;
    // Unknown capability names are a warning, not an error (runtime-spec 1.1).
    let text = crate::security::drop_unknown_capabilities(&text, &["process", "capabilities"])
        .unwrap_or(text);
    let mut spec = parse_json(&path, &text)?;
    destinations_under_root(&mut spec);
    empty_namespace_paths_mean_new(&mut spec);
    Ok((bundle, spec))
}

/// `"path": ""` on a namespace means no path, a new namespace (as runc reads it).
fn empty_namespace_paths_mean_new(spec: &mut Spec) {
    let Some(linux) = spec.linux_mut() else {
        return;
    };
    let Some(mut list) = linux.namespaces().clone() else {
        return;
    };
    let mut changed = false;
    for ns in &mut list {
        if ns.path().as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            ns.set_path(None);
            changed = true;
        }
    }
    if changed {
        linux.set_namespaces(Some(list));
    }
}

/// runtime-spec: a bind source is absolute or relative to the bundle. Made absolute
/// here, as runc and crun read it, whatever the caller's working directory.
fn bind_sources_from_bundle(spec: &mut Spec, bundle: &Path) {
    let Some(mounts) = spec.mounts().clone() else {
        return;
    };
    let fixed: Vec<_> = mounts
        .into_iter()
        .map(|mut m| {
            let bind = crate::rootfs::parse_options(m.options().as_deref().unwrap_or(&[]))
                .is_ok_and(|o| o.is_bind());
            if let Some(src) = m.source().clone().filter(|s| bind && s.is_relative()) {
                m.set_source(Some(bundle.join(src)));
            }
            m
        })
        .collect();
    spec.set_mounts(Some(fixed));
}

/// runtime-spec 1.1 (config.md, mounts): on Linux a relative destination is deprecated
/// but allowed, and means the path under the container's `/`. Made absolute at load, so
/// that validation and the init only ever see absolute destinations.
fn destinations_under_root(spec: &mut Spec) {
    let Some(mounts) = spec.mounts().clone() else {
        return;
    };
    if mounts.iter().all(|m| m.destination().is_absolute()) {
        return;
    }
    let fixed: Vec<_> = mounts
        .into_iter()
        .map(|mut m| {
            if m.destination().is_relative() {
                let abs = Path::new("/").join(m.destination());
                m.set_destination(abs);
            }
            m
        })
        .collect();
    spec.set_mounts(Some(fixed));
}

/// Compile linux.seccomp, if any. Part of validation: a bad profile fails before
/// anything exists; the program is kept for the init.
pub fn compile_seccomp(
    profile: Option<&oci_spec::runtime::LinuxSeccomp>,
) -> Result<Option<crate::security::seccomp::Program>, SpecError> {
    use crate::security::seccomp::{compile, SeccompError};
    let Some(s) = profile else {
        return Ok(None);
    };
    compile(s).map(Some).map_err(|e| match e {
        SeccompError::Invalid { field, msg } => SpecError::invalid(field, msg),
        e => SpecError::invalid("linux.seccomp", e.to_string()),
    })
}

/// The rootfs directory of a spec, resolved against the bundle.
/// The spec's linux.seccomp, if any.
pub fn seccomp_of(spec: &Spec) -> Option<&oci_spec::runtime::LinuxSeccomp> {
    spec.linux().as_ref().and_then(|l| l.seccomp().as_ref())
}

/// The rootfs directory of a spec, resolved against the bundle.
pub fn rootfs_of(bundle: &Path, spec: &Spec) -> PathBuf {
    let p = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_default();
    if p.is_absolute() {
        p
    } else {
        bundle.join(p)
    }
}
