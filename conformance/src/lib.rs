//! brig-conformance.
