//! The server's error: either a Bitrix24 error for the caller, or our own failure.

use b24_protocol::{ErrorCode, RestError};
use std::fmt;

/// What a method, the auth layer or the store can fail with.
pub enum ApiError {
    /// A deterministic, caller-visible error from the code table.
    Rest(RestError),
    /// Our failure (database, I/O, a bug). The caller sees a generic 500 `INTERNAL_SERVER_ERROR`;
    /// the cause is logged, never echoed.
    Internal(anyhow::Error),
}

impl ApiError {
    /// Wraps an unexpected failure.
    pub fn internal(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }

    /// The error as the caller sees it.
    pub fn to_rest(&self) -> RestError {
        match self {
            ApiError::Rest(e) => e.clone(),
            ApiError::Internal(_) => RestError::new(ErrorCode::InternalServerError),
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Rest(e) => write!(f, "{e}"),
            ApiError::Internal(e) => write!(f, "internal error: {e:#}"),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<RestError> for ApiError {
    fn from(e: RestError) -> Self {
        ApiError::Rest(e)
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        ApiError::Rest(RestError::new(code))
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }
}
