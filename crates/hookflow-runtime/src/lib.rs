//! hookflow's engine: what flows rely on at run time.
//!
//! [`credentials`] issues, rotates and checks the secrets that webhook routes require;
//! [`http_client`] sends the outbound calls of `http_request` nodes, with retries and an SSRF
//! guard on every destination.

pub mod credentials;
pub mod http_client;
