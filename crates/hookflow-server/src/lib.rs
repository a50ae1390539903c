//! hookflow-server: the HTTP layer (webhook ingress and admin API), the only crate that turns errors into HTTP statuses.
