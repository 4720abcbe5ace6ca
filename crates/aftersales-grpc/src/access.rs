//! Who may call the endpoint, and where nobody may append.
//!
//! KurrentDB clients send their credentials as HTTP basic authentication in
//! each call's `authorization` metadata. This crate knows nothing of the
//! product's keys: the binary hands it an [`Authenticate`] that does, and
//! the list of categories the product writes only through its commands.

use std::sync::Arc;

use base64::Engine;
use tonic::metadata::MetadataMap;
use tonic::{async_trait, Status};

/// What an authenticated caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    pub read: bool,
    pub append: bool,
}

impl Permissions {
    /// Everything the endpoint serves, for an endpoint without
    /// authentication.
    pub const ALL: Self = Self {
        read: true,
        append: true,
    };
}

/// Why credentials could not be checked (not: that they are wrong).
#[derive(Debug, thiserror::Error)]
#[error("credentials cannot be checked now: {0}")]
pub struct AuthUnavailable(pub String);

/// Checks a user name and password.
#[async_trait]
pub trait Authenticate: Send + Sync + std::fmt::Debug {
    /// `None`: unknown user, wrong password or a revoked key.
    async fn authenticate(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Option<Permissions>, AuthUnavailable>;
}

/// The endpoint's rules of access.
#[derive(Debug, Clone)]
pub struct Access {
    /// `None` serves every caller without credentials: a loopback test rig.
    pub authenticator: Option<Arc<dyn Authenticate>>,
    /// Categories no call may append to.
    pub protected_categories: Vec<String>,
}

impl Access {
    /// What the caller behind `metadata` may do, or the status that refuses
    /// the call.
    pub(crate) async fn caller(&self, metadata: &MetadataMap) -> Result<Permissions, Status> {
        let Some(authenticator) = &self.authenticator else {
            return Ok(Permissions::ALL);
        };
        let (user, password) = basic_credentials(metadata).ok_or_else(|| {
            Status::unauthenticated(
                "send an API key as basic credentials: its id or name as the user, its token as the password",
            )
        })?;
        match authenticator.authenticate(&user, &password).await {
            Ok(Some(permissions)) => Ok(permissions),
            Ok(None) => Err(Status::unauthenticated(
                "the credentials name no active API key",
            )),
            Err(error) => Err(Status::unavailable(error.to_string())),
        }
    }

    /// Refuses a call the caller's permissions do not cover.
    pub(crate) async fn require(
        &self,
        metadata: &MetadataMap,
        what: Operation,
    ) -> Result<(), Status> {
        let permissions = self.caller(metadata).await?;
        let allowed = match what {
            Operation::Read => permissions.read,
            Operation::Append => permissions.append,
        };
        if allowed {
            Ok(())
        } else {
            Err(Status::permission_denied(match what {
                Operation::Read => "this key may not read the log",
                Operation::Append => "this key may not append to the log",
            }))
        }
    }

    /// Refuses an append into a category the product owns.
    pub(crate) fn check_stream(&self, category: &str) -> Result<(), Status> {
        if self.protected_categories.iter().any(|c| c == category) {
            return Err(Status::permission_denied(format!(
                "streams of the `{category}` category are written only through the product's \
                 commands, which check its rules: use the JSON API"
            )));
        }
        Ok(())
    }
}

/// What a call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Read,
    Append,
}

/// The user and password of `authorization: Basic …` (the scheme's name is
/// case-insensitive).
fn basic_credentials(metadata: &MetadataMap) -> Option<(String, String)> {
    let value = metadata.get("authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(value: &str) -> MetadataMap {
        let mut map = MetadataMap::new();
        map.insert("authorization", value.parse().unwrap());
        map
    }

    #[test]
    fn basic_credentials_are_read_whatever_the_scheme_s_case() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("key-1:as_secret");
        for scheme in ["Basic", "basic", "BASIC"] {
            assert_eq!(
                basic_credentials(&metadata(&format!("{scheme} {encoded}"))),
                Some(("key-1".to_owned(), "as_secret".to_owned()))
            );
        }
        assert_eq!(
            basic_credentials(&metadata(&format!("Bearer {encoded}"))),
            None
        );
        assert_eq!(basic_credentials(&metadata("Basic !!!")), None);
        assert_eq!(basic_credentials(&MetadataMap::new()), None);
    }
}
