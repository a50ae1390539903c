//! The admin API's extractors for path parameters and request bodies. Their rejections are
//! [`AdminError`]s, so a segment that is not UTF-8 or a body over [`BODY_LIMIT`] is answered
//! with problem+json like every other admin error, not with axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AdminError;

/// The largest request body the admin API takes, in bytes.
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The path parameters of a route, like [`axum::extract::Path`].
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) if rejection.status().is_client_error() => {
                Err(AdminError::BadPath(rejection.body_text()))
            }
            Err(rejection) => {
                tracing::error!(error = %rejection.body_text(), "a route's path parameters do not match its handler");
                Err(AdminError::Internal)
            }
        }
    }
}

/// The whole request body, at most [`BODY_LIMIT`] bytes.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = AdminError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AdminError> {
        Bytes::from_request(request, state).await.map(Body).map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AdminError::BodyTooLarge(BODY_LIMIT)
            } else if crate::listener::is_body_timeout(&rejection) {
                AdminError::BodyTimeout
            } else {
                AdminError::BadBody(format!("The body cannot be read: {}", rejection.body_text()))
            }
        })
    }
}
