//! The config.json that `brig spec` writes: runc's default, so that a bundle made
//! for one runs on the other. Only `hostname` differs.

use super::Spec;

const DEFAULT_SPEC: &str = include_str!("default.json");

pub fn default_spec() -> Spec {
    // The text is ours and fixed; a parse failure is a build defect that the tests catch.
    serde_json::from_str(DEFAULT_SPEC).expect("default.json is a valid spec")
}

/// The exact text, for `brig spec` (keeps runc's field order).
pub fn default_spec_text() -> &'static str {
    DEFAULT_SPEC
}
