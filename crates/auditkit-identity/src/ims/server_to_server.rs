//! OAuth Server-to-Server: the project's client id and secret, exchanged for a token with
//! the scopes of its credential.

use secrecy::SecretString;

use super::{ImsCredential, Method};

impl ImsCredential {
    /// OAuth Server-to-Server: the project's client id, a client secret and its scopes.
    pub fn server_to_server<S: Into<String>>(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        let secret = crate::secret::secret(client_secret.into());
        Self::server_to_server_from(client_id, secret, scopes)
    }

    /// [`ImsCredential::server_to_server`] with a secret that already is a [`SecretString`]
    /// (one read from a file, say): it is kept as it is, never copied into a plain `String`.
    pub fn server_to_server_from<S: Into<String>>(
        client_id: impl Into<String>,
        client_secret: SecretString,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        let method = Method::ServerToServer {
            scopes: scopes.into_iter().map(Into::into).collect(),
        };
        Self::with_method(client_id, client_secret, method)
    }
}

#[cfg(test)]
mod tests {
    use auditkit_runtime::Credential;
    use secrecy::ExposeSecret;

    use super::super::test_support::*;
    use super::*;
    use crate::TokenCache;

    #[tokio::test]
    async fn s2s_posts_the_form_and_sends_the_headers() {
        let server = s2s_server(token_answer(86399.into())).await;
        let bearer = s2s(&server)
            .org_id("ORG1@AdobeOrg")
            .bearer(&http(), TokenCache::new())
            .unwrap();

        let headers = bearer.headers().await.unwrap();
        assert_eq!(
            header(&headers, "authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(header(&headers, "x-api-key"), Some("client-abc"));
        assert_eq!(header(&headers, "x-gw-ims-org-id"), Some("ORG1@AdobeOrg"));

        let sent = requests(&server).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].url.query(),
            None,
            "nothing travels in the query string"
        );
        let content_type = sent[0]
            .headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            content_type.starts_with("application/x-www-form-urlencoded"),
            "{content_type}"
        );
        let expected = [
            ("grant_type", "client_credentials"),
            ("client_id", "client-abc"),
            ("client_secret", SECRET),
            ("scope", "openid,AdobeID,read_organizations"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(form(&sent[0]), expected);
    }

    #[tokio::test]
    async fn s2s_without_org_id_sends_no_org_header() {
        let server = s2s_server(token_answer(86399.into())).await;
        let bearer = s2s(&server).bearer(&http(), TokenCache::new()).unwrap();
        let headers = bearer.headers().await.unwrap();
        assert_eq!(header(&headers, "x-api-key"), Some("client-abc"));
        assert_eq!(header(&headers, "x-gw-ims-org-id"), None);
        assert_eq!(bearer.token().await.unwrap().expose_secret(), TOKEN);
    }

    #[tokio::test]
    async fn s2s_expires_in_is_seconds() {
        let server = s2s_server(token_answer(86399.into())).await;
        // 1 h later the ~24 h token is still cached; 24 h later it is fetched again.
        assert_eq!(
            requests_after(&server, &s2s(&server), &[HOUR, 23 * HOUR]).await,
            [1, 1, 2]
        );
    }

    #[tokio::test]
    async fn secret_strings_are_kept_as_they_are_and_posted() {
        let server = rotation_server().await;
        let (old, new) = (
            SecretString::from("old-secret"),
            SecretString::from("new-secret"),
        );
        let addresses = [old.expose_secret().as_ptr(), new.expose_secret().as_ptr()];
        let credential = ImsCredential::server_to_server_from("client-abc", old, ["openid"])
            .additional_secret_from(new)
            .environment(custom(&server));
        let kept: Vec<_> = credential
            .secrets
            .iter()
            .map(|secret| secret.expose_secret().as_ptr())
            .collect();
        assert_eq!(kept, addresses, "the caller's SecretStrings, not copies");

        let bearer = credential.bearer(&http(), TokenCache::new()).unwrap();
        assert_eq!(bearer.token().await.unwrap().expose_secret(), TOKEN);
        let forms: Vec<_> = requests(&server).await.iter().map(form).collect();
        assert_eq!(forms.len(), 2);
        assert_eq!(
            forms[1],
            [
                ("grant_type", "client_credentials"),
                ("client_id", "client-abc"),
                ("client_secret", "new-secret"),
                ("scope", "openid"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let debug = format!("{credential:?}");
        assert!(
            !debug.contains("old-secret") && !debug.contains("new-secret"),
            "{debug}"
        );
    }
}
