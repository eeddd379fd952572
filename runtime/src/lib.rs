//! brig: an OCI container runtime.
