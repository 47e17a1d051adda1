//! A client assertion produced elsewhere: by the caller's callback for each token request,
//! or read from a file for each one (workload identity federation: the platform rotates the
//! file underneath us).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use auditkit_runtime::{AuthError, AuthErrorKind, BoxFuture};
use secrecy::{ExposeSecret, SecretString};

use super::{EntraCredential, Method, PROVIDER};

/// Produces a client assertion (a JWT from another issuer, say) for each token request.
pub type ClientAssertionCallback =
    dyn Fn() -> BoxFuture<'static, Result<String, AuthError>> + Send + Sync;

impl EntraCredential {
    /// An application (client) id and a client assertion produced by `assertion` for every
    /// token request: a signed JWT, or a token from another identity provider that the
    /// application trusts (federated credentials).
    pub fn client_assertion<F>(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        assertion: F,
    ) -> Self
    where
        F: Fn() -> BoxFuture<'static, Result<String, AuthError>> + Send + Sync + 'static,
    {
        Self::with_method(
            tenant,
            client_id,
            Method::AssertionCallback(Arc::new(assertion)),
        )
    }

    /// Workload identity federation: the client assertion is the content of `path`
    /// (`AZURE_FEDERATED_TOKEN_FILE`), read again for every token request since the platform
    /// rotates it.
    pub fn client_assertion_file(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> Self {
        Self::with_method(tenant, client_id, Method::AssertionFile(path.into()))
    }
}

fn configuration(message: String) -> AuthError {
    AuthError::new(PROVIDER, AuthErrorKind::Configuration, message)
}

/// The callback's assertion for one token request; an empty one is refused.
pub(super) async fn from_callback(
    produce: &ClientAssertionCallback,
) -> Result<SecretString, AuthError> {
    let assertion = crate::secret::secret(produce().await?);
    if assertion.expose_secret().trim().is_empty() {
        return Err(configuration(
            "the client assertion callback gave an empty assertion".into(),
        ));
    }
    Ok(assertion)
}

/// The federated token in `path` now, without the white space around it; an empty file is
/// refused.
pub(super) async fn from_file(path: &Path) -> Result<SecretString, AuthError> {
    let text = tokio::fs::read_to_string(path).await.map_err(|err| {
        configuration(format!(
            "cannot read the federated token file {}",
            path.display()
        ))
        .with_source(err)
    })?;
    let assertion = crate::secret::trimmed_secret(text);
    if assertion.expose_secret().is_empty() {
        return Err(configuration(format!(
            "federated token file {} is empty",
            path.display()
        )));
    }
    Ok(assertion)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[tokio::test]
    async fn client_assertion_callback_is_posted() {
        let server = token_server(good_answer()).await;
        let credential = EntraCredential::client_assertion(TENANT, CLIENT, || {
            Box::pin(async { Ok("federated.jwt.from-callback".to_owned()) })
        })
        .authority_host(host(&server));
        fetch(&credential).await.unwrap();
        assert_eq!(
            assertion_of(&posted_forms(&server).await[0]),
            "federated.jwt.from-callback"
        );

        let failing = EntraCredential::client_assertion(TENANT, CLIENT, || {
            Box::pin(async {
                Err(AuthError::new(
                    "other idp",
                    AuthErrorKind::Unavailable,
                    "idp is down",
                ))
            })
        })
        .authority_host(host(&server));
        let err = auth_error(fetch(&failing).await.unwrap_err());
        assert_eq!(
            (err.provider(), err.kind()),
            ("other idp", AuthErrorKind::Unavailable)
        );
        let empty = EntraCredential::client_assertion(TENANT, CLIENT, || {
            Box::pin(async { Ok(" ".to_owned()) })
        })
        .authority_host(host(&server));
        assert_eq!(
            auth_error(fetch(&empty).await.unwrap_err()).kind(),
            AuthErrorKind::Configuration
        );
        assert_eq!(
            posted_forms(&server).await.len(),
            1,
            "failed assertions send nothing"
        );
    }

    #[tokio::test]
    async fn assertion_file_is_read_for_every_token_request() {
        let file = TempFile::new(b"first.federated.token\n");
        let server = token_server(good_answer()).await;
        let credential = EntraCredential::client_assertion_file(TENANT, CLIENT, &file.0)
            .authority_host(host(&server));
        fetch(&credential).await.unwrap();
        std::fs::write(&file.0, b"second.federated.token").unwrap();
        fetch(&credential).await.unwrap();
        let forms = posted_forms(&server).await;
        assert_eq!(assertion_of(&forms[0]), "first.federated.token");
        assert_eq!(assertion_of(&forms[1]), "second.federated.token");

        std::fs::write(&file.0, b"  \n").unwrap();
        let err = auth_error(fetch(&credential).await.unwrap_err());
        assert_eq!(err.kind(), AuthErrorKind::Configuration);
        assert_eq!(
            err.to_string(),
            format!(
                "entra id: federated token file {} is empty",
                file.0.display()
            )
        );
        std::fs::remove_file(&file.0).unwrap();
        let err = auth_error(fetch(&credential).await.unwrap_err());
        assert!(
            err.to_string()
                .contains("cannot read the federated token file"),
            "{err}"
        );
        assert_eq!(posted_forms(&server).await.len(), 2);
    }
}
