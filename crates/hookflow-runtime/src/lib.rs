//! hookflow's engine: deploys compiled flows, runs executions, and manages what they rely on.
//!
//! For now it holds [`credentials`]: issuing, rotating and checking the secrets that webhook
//! routes require.

pub mod credentials;
