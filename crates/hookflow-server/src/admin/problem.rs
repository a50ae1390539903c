//! The one place where an admin API error becomes an HTTP status: every error is an RFC 9457
//! `application/problem+json` document; 5xx bodies say nothing internal (that goes to the log).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why the admin API refused or failed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// No `Authorization: Bearer` header, or not the admin token.
    Unauthorized,
    /// A query parameter is unknown, repeated or not valid.
    BadParameter { name: String, reason: String },
    /// No execution has this id.
    NoSuchExecution(String),
    /// No admin endpoint at this path.
    NotFound,
    /// The path exists, not with this method.
    MethodNotAllowed,
    /// The resource is not in a state that allows the operation; the message says why.
    Conflict(String),
    /// Something in hookflow failed; the details are in the log.
    Internal,
}

impl AdminError {
    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            AdminError::NoSuchExecution(_) | AdminError::NotFound => StatusCode::NOT_FOUND,
            AdminError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn detail(&self) -> String {
        match self {
            AdminError::Unauthorized => {
                "The admin API needs the header `Authorization: Bearer <admin token>`.".into()
            }
            AdminError::BadParameter { name, reason } => {
                format!("Query parameter `{name}`: {reason}.")
            }
            AdminError::NoSuchExecution(id) => format!("There is no execution `{id}`."),
            AdminError::NotFound => "There is no admin endpoint at this path.".into(),
            AdminError::MethodNotAllowed => "This endpoint does not accept this method.".into(),
            AdminError::Conflict(reason) => format!("{reason}."),
            AdminError::Internal => {
                "hookflow failed while handling this request; the details are in its log.".into()
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut doc = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.detail(),
        });
        if let AdminError::BadParameter { name, .. } = &self {
            doc["parameter"] = json!(name);
        }
        let mut response = (status, doc.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self == AdminError::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_their_status_and_parameter() {
        let r = AdminError::BadParameter { name: "limit".into(), reason: "not a number".into() }
            .into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/problem+json");
        let r = AdminError::Unauthorized.into_response();
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(AdminError::Conflict("x".into()).status(), StatusCode::CONFLICT);
    }
}
