//! A certificate: each token request carries a client assertion, a JWT signed with the
//! private key of a certificate registered on the application (PS256 and `x5t#S256`, or the
//! legacy RS256 and `x5t`).

use std::path::Path;
use std::sync::Arc;

use auditkit_runtime::{AuthError, AuthErrorKind};
use reqwest::Url;
use ring::digest;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use super::{EntraCredential, Method, PROVIDER, configuration};
use crate::jwt::{self, Algorithm, SigningKey};

/// How long a certificate-signed assertion is valid; it is used once, right away.
const ASSERTION_LIFETIME_SECS: u64 = 10 * 60;

/// A certificate's RSA private key and the thumbprints Entra ID finds it by.
pub(crate) struct CertificateKey {
    key: SigningKey,
    /// base64url(SHA-256(certificate DER)).
    pub(super) x5t_s256: String,
    /// base64url(SHA-1(certificate DER)), for the legacy RS256 header.
    x5t_sha1: String,
}

impl CertificateKey {
    /// The first certificate of `cert_pem` and the first private key of `key_pem` (PKCS#8 or
    /// PKCS#1 RSA). `cert_what`/`key_what` name the inputs in errors.
    fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        cert_what: &str,
        key_what: &str,
    ) -> Result<Self, crate::Error> {
        let cert = jwt::first_certificate(cert_pem)
            .map_err(|err| configuration(format!("{cert_what} {err}")))?;
        let key = SigningKey::from_pem(key_pem)
            .map_err(|err| configuration(format!("{key_what} {err}")))?;
        if !key.matches(&cert) {
            return Err(configuration(format!(
                "the certificate in {cert_what} does not belong to the private key"
            )));
        }
        let thumbprint = |algorithm| jwt::base64url(digest::digest(algorithm, cert.as_ref()));
        Ok(Self {
            x5t_s256: thumbprint(&digest::SHA256),
            x5t_sha1: thumbprint(&digest::SHA1_FOR_LEGACY_USE_ONLY),
            key,
        })
    }

    /// A client assertion for one token request: `aud` the token endpoint, `iss` = `sub` the
    /// client id, valid from now for ten minutes.
    pub(super) fn assertion(
        &self,
        token_url: &Url,
        client_id: &str,
        legacy_rs256: bool,
    ) -> Result<SecretString, AuthError> {
        let now = jwt::unix_now(PROVIDER)?;
        let (algorithm, thumbprint) = if legacy_rs256 {
            (Algorithm::Rs256, ("x5t", self.x5t_sha1.as_str()))
        } else {
            (Algorithm::Ps256, ("x5t#S256", self.x5t_s256.as_str()))
        };
        let claims = serde_json::json!({
            "aud": token_url.as_str(),
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        self.key
            .sign(algorithm, &[thumbprint], &claims)
            .map_err(|jwt::SignError| {
                AuthError::new(
                    PROVIDER,
                    AuthErrorKind::Configuration,
                    "cannot sign the client assertion",
                )
            })
    }
}

impl EntraCredential {
    /// An application (client) id and a certificate registered on it: `cert_pem` holds the
    /// certificate, `key_pem` its RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1
    /// `RSA PRIVATE KEY`, unencrypted). Each token request carries a fresh JWT signed with
    /// PS256; see [`EntraCredential::legacy_rs256`].
    pub fn certificate(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Self, crate::Error> {
        let key =
            CertificateKey::from_pem(cert_pem, key_pem, "certificate PEM", "private key PEM")?;
        Ok(Self::with_certificate(tenant, client_id, key))
    }

    /// Like [`EntraCredential::certificate`], from one PEM file holding both the certificate
    /// and the private key (what `AZURE_CLIENT_CERTIFICATE_PATH` names). Read once, now.
    pub fn certificate_from_pem_file(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        path: impl AsRef<Path>,
    ) -> Result<Self, crate::Error> {
        let path = path.as_ref();
        // The file holds the private key: read into memory that is wiped when dropped.
        let pem = std::fs::read(path).map(SecretSlice::from).map_err(|err| {
            crate::Error::from(
                AuthError::new(
                    PROVIDER,
                    AuthErrorKind::Configuration,
                    format!("cannot read certificate file {}", path.display()),
                )
                .with_source(err),
            )
        })?;
        let what = format!("certificate file {}", path.display());
        let pem = pem.expose_secret();
        let key = CertificateKey::from_pem(pem, pem, &what, &what)?;
        Ok(Self::with_certificate(tenant, client_id, key))
    }

    fn with_certificate(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        key: CertificateKey,
    ) -> Self {
        let method = Method::Certificate {
            key: Arc::new(key),
            legacy_rs256: false,
        };
        Self::with_method(tenant, client_id, method)
    }

    /// Signs certificate assertions the way older Entra ID documentation describes: `RS256`
    /// (PKCS#1 v1.5) with an `x5t` SHA-1 thumbprint instead of `PS256` and `x5t#S256`. For
    /// certificate credentials only.
    pub fn legacy_rs256(mut self) -> Self {
        match &mut self.method {
            Method::Certificate { legacy_rs256, .. } => *legacy_rs256 = true,
            _ => self.misuse = Some("legacy_rs256 applies to certificate credentials only"),
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[tokio::test]
    async fn certificate_assertion_is_ps256_signed_and_verifiable() {
        let server = token_server(good_answer()).await;
        let credential = EntraCredential::certificate(TENANT, CLIENT, CERT, KEY)
            .unwrap()
            .authority_host(host(&server));
        assert_eq!(fetch(&credential).await.unwrap(), "eyJ0.access.token");
        // A second request (fresh cache) gets a fresh assertion.
        fetch(&credential).await.unwrap();
        let forms = posted_forms(&server).await;
        assert_eq!(forms.len(), 2);
        let first = check_assertion(&assertion_of(&forms[0]), &token_url(&server), false);
        let second = check_assertion(&assertion_of(&forms[1]), &token_url(&server), false);
        assert_ne!(first, second, "every assertion has its own jti");
    }

    #[tokio::test]
    async fn certificate_file_with_pkcs1_key_signs_legacy_rs256() {
        let file = TempFile::new(&[CERT, KEY_PKCS1].concat());
        let server = token_server(good_answer()).await;
        let credential = EntraCredential::certificate_from_pem_file(TENANT, CLIENT, &file.0)
            .unwrap()
            .legacy_rs256()
            .authority_host(host(&server));
        fetch(&credential).await.unwrap();
        let forms = posted_forms(&server).await;
        check_assertion(&assertion_of(&forms[0]), &token_url(&server), true);
    }

    #[test]
    fn certificate_pem_problems_are_named() {
        let cases: [(&[u8], &[u8], &str); 7] = [
            (b"garbage", KEY, "certificate PEM holds no certificate"),
            (KEY, KEY, "certificate PEM holds no certificate"),
            (CERT, CERT, "private key PEM holds no private key"),
            (CERT, b"-----BEGIN PRIVATE KEY-----\nAAAA", "private key PEM is not valid PEM"),
            (CERT, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a usable RSA key"),
            (CERT, b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"),
            (CERT, OTHER_KEY, "does not belong to the private key"),
        ];
        for (cert, key, expected) in cases {
            let err =
                auth_error(EntraCredential::certificate(TENANT, CLIENT, cert, key).unwrap_err());
            assert_eq!(err.kind(), AuthErrorKind::Configuration);
            assert!(
                err.to_string().contains(expected),
                "{err} should say {expected:?}"
            );
        }
        let only_cert = TempFile::new(CERT);
        let err = auth_error(
            EntraCredential::certificate_from_pem_file(TENANT, CLIENT, &only_cert.0).unwrap_err(),
        );
        assert!(err.to_string().ends_with("holds no private key"), "{err}");
        assert!(err.to_string().contains("certificate file"), "{err}");
        assert!(
            err.to_string().contains(&only_cert.0.display().to_string()),
            "{err}"
        );
        let missing = std::env::temp_dir().join("auditkit-entra-does-not-exist.pem");
        let err = auth_error(
            EntraCredential::certificate_from_pem_file(TENANT, CLIENT, &missing).unwrap_err(),
        );
        assert_eq!(err.kind(), AuthErrorKind::Configuration);
        assert!(
            err.to_string().contains("cannot read certificate file"),
            "{err}"
        );
    }
}
