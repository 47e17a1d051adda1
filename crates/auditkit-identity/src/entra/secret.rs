//! A client secret: the application's password, posted in the token request's form.

use secrecy::SecretString;

use super::{EntraCredential, Method};

impl EntraCredential {
    /// An application (client) id and one of its client secrets.
    pub fn client_secret(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        Self::client_secret_from(tenant, client_id, crate::secret::secret(secret.into()))
    }

    /// [`EntraCredential::client_secret`] with a secret that already is a [`SecretString`]
    /// (one read from a file, say): it is kept as it is, never copied into a plain `String`.
    pub fn client_secret_from(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        secret: SecretString,
    ) -> Self {
        Self::with_method(tenant, client_id, Method::Secret(secret))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::super::test_support::*;
    use super::*;

    /// The documented client-credentials form with the test secret.
    fn secret_form() -> Vec<(String, String)> {
        pairs(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("scope", "https://graph.microsoft.com/.default"),
            ("client_secret", SECRET),
        ])
    }

    #[tokio::test]
    async fn client_secret_posts_the_documented_form() {
        let server = token_server(good_answer()).await;
        let credential =
            EntraCredential::client_secret(TENANT, CLIENT, SECRET).authority_host(host(&server));
        assert_eq!(fetch(&credential).await.unwrap(), "eyJ0.access.token");
        assert_eq!(posted_forms(&server).await, vec![secret_form()]);
    }

    #[tokio::test]
    async fn a_secret_string_is_kept_as_it_is_and_posted() {
        let server = token_server(good_answer()).await;
        let secret = SecretString::from(SECRET);
        let address = secret.expose_secret().as_ptr();
        let credential = EntraCredential::client_secret_from(TENANT, CLIENT, secret)
            .authority_host(host(&server));
        match &credential.method {
            Method::Secret(kept) => assert_eq!(
                kept.expose_secret().as_ptr(),
                address,
                "the caller's SecretString itself, not a copy"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(fetch(&credential).await.unwrap(), "eyJ0.access.token");
        assert_eq!(posted_forms(&server).await, vec![secret_form()]);
        assert!(!format!("{credential:?}").contains(SECRET));
    }

    /// A token endpoint that answers a "token" with a line break in it is trying to add
    /// headers to every API request: no header is made and the caller gets the reason.
    #[tokio::test]
    async fn a_token_that_would_break_the_authorization_header_is_refused() {
        use auditkit_runtime::{AuthErrorKind, Credential};
        let server = token_server(wiremock::ResponseTemplate::new(200).set_body_json(
            serde_json::json!({
                "token_type": "Bearer", "expires_in": 3599,
                "access_token": "eyJ0.token\r\nX-Injected: yes",
            }),
        ))
        .await;
        let credential =
            EntraCredential::client_secret(TENANT, CLIENT, SECRET).authority_host(host(&server));
        let bearer = credential
            .bearer(crate::GraphCloud::Global, &http(), crate::TokenCache::new())
            .unwrap();

        let error = bearer.headers().await.unwrap_err();

        assert_eq!(error.kind(), AuthErrorKind::InvalidResponse, "{error}");
        assert!(
            error.to_string().contains("not allowed in a header"),
            "{error}"
        );
    }
}
