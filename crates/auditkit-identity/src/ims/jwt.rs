//! The Service Account (JWT) flow, deprecated by Adobe (feature `ims-jwt`): an RS256 JWT
//! signed with the integration's private key, exchanged for an access token.

use std::fmt;
use std::sync::Arc;

use auditkit_runtime::{AuthError, AuthErrorKind};
use secrecy::SecretString;
use serde_json::{Map, Value};

use super::{ImsCredential, Method, PROVIDER, configuration};
use crate::jwt::{Algorithm, SigningKey};

impl ImsCredential {
    /// Service Account (JWT), deprecated by Adobe (end of life 2025, credentials converted to
    /// Server-to-Server by March 2026). Signs an RS256 JWT with `private_key_pem` (PKCS#8
    /// `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`) for every token request and
    /// exchanges it at `/ims/exchange/jwt`. `org_id` (`…@AdobeOrg`) is the JWT's issuer and is
    /// also sent as `x-gw-ims-org-id`. A metascope is a name (`ent_auditservice_sdk`), turned
    /// into the claim `{ims host}/s/{name}`, or a full claim URL, used as given.
    pub fn jwt<S: Into<String>>(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        org_id: impl Into<String>,
        technical_account_id: impl Into<String>,
        private_key_pem: &[u8],
        metascopes: impl IntoIterator<Item = S>,
    ) -> Result<Self, crate::Error> {
        let key = SigningKey::from_pem(private_key_pem)
            .map_err(|err| configuration(format!("the private key PEM {err}")))?;
        let metascopes = metascopes.into_iter().map(Into::into).collect();
        let account =
            ServiceAccount::new(org_id.into(), technical_account_id.into(), key, metascopes)
                .map_err(configuration)?;
        let secret = crate::secret::secret(client_secret.into());
        Ok(Self::service_account(client_id, secret, account))
    }

    /// The credential of `account`, sending its org id as `x-gw-ims-org-id`.
    pub(super) fn service_account(
        client_id: impl Into<String>,
        client_secret: SecretString,
        account: ServiceAccount,
    ) -> Self {
        let org_id = account.org_id.clone();
        Self::with_method(
            client_id,
            client_secret,
            Method::ServiceAccount(Arc::new(account)),
        )
        .org_id(org_id)
    }
}

/// How long a signed JWT is valid: IMS only needs it for the exchange.
pub(crate) const JWT_LIFETIME_SECS: u64 = 300;

pub(crate) struct ServiceAccount {
    pub(crate) org_id: String,
    pub(crate) technical_account_id: String,
    pub(crate) metascopes: Vec<String>,
    pub(crate) key: SigningKey,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("org_id", &self.org_id)
            .field("technical_account_id", &self.technical_account_id)
            .field("metascopes", &self.metascopes)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl ServiceAccount {
    pub(crate) fn new(
        org_id: String,
        technical_account_id: String,
        key: SigningKey,
        metascopes: Vec<String>,
    ) -> Result<Self, String> {
        if org_id.trim().is_empty() {
            return Err("org id is empty (it is the issuer of the service account jwt)".to_owned());
        }
        if technical_account_id.trim().is_empty() {
            return Err("technical account id is empty".to_owned());
        }
        let metascopes: Vec<String> = metascopes
            .iter()
            .map(|m| m.trim())
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect();
        if metascopes.is_empty() {
            return Err("the service account (jwt) flow needs at least one metascope".to_owned());
        }
        Ok(Self {
            org_id,
            technical_account_id,
            metascopes,
            key,
        })
    }

    /// The JWT's claims; `ims_origin` is `https://ims-na1.adobelogin.com` in production.
    pub(crate) fn claims(&self, client_id: &str, ims_origin: &str, now: u64) -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert("exp".to_owned(), Value::from(now + JWT_LIFETIME_SECS));
        claims.insert("iss".to_owned(), Value::from(self.org_id.as_str()));
        claims.insert(
            "sub".to_owned(),
            Value::from(self.technical_account_id.as_str()),
        );
        claims.insert(
            "aud".to_owned(),
            Value::from(format!("{ims_origin}/c/{client_id}")),
        );
        for metascope in &self.metascopes {
            let claim = if metascope.contains("://") {
                metascope.clone()
            } else {
                format!("{ims_origin}/s/{metascope}")
            };
            claims.insert(claim, Value::Bool(true));
        }
        claims
    }

    /// The signed JWT, itself a credential for five minutes.
    pub(crate) fn sign(
        &self,
        client_id: &str,
        ims_origin: &str,
        now: u64,
    ) -> Result<SecretString, AuthError> {
        let claims = self.claims(client_id, ims_origin, now);
        self.key
            .sign(Algorithm::Rs256, &[], &claims)
            .map_err(|crate::jwt::SignError| {
                AuthError::new(
                    PROVIDER,
                    AuthErrorKind::Configuration,
                    "cannot sign the jwt with the private key",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use auditkit_runtime::Credential;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    use super::super::test_support::*;
    use super::*;
    use crate::{ImsEnvironment, TokenCache};

    #[tokio::test]
    async fn exchanges_a_signed_jwt() {
        let server = jwt_server(86_399_000).await;
        let bearer = jwt_credential(&server)
            .bearer(&http(), TokenCache::new())
            .unwrap();
        let headers = bearer.headers().await.unwrap();
        assert_eq!(
            header(&headers, "authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(header(&headers, "x-api-key"), Some("client-abc"));
        assert_eq!(
            header(&headers, "x-gw-ims-org-id"),
            Some(ORG),
            "set from the org id automatically"
        );

        let sent = requests(&server).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].url.query(), None);
        let fields = form(&sent[0]);
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["client_id", "client_secret", "jwt_token"]);
        assert_eq!(fields[0].1, "client-abc");
        assert_eq!(fields[1].1, JWT_SECRET);

        let jwt = &fields[2].1;
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode(parts[0]),
            serde_json::json!({"alg": "RS256", "typ": "JWT"})
        );

        let origin = server.uri();
        let claims = decode(parts[1]);
        let claims = claims.as_object().unwrap();
        assert_eq!(claims.len(), 6, "{claims:?}");
        assert_eq!(claims["iss"], ORG);
        assert_eq!(claims["sub"], TECHNICAL);
        assert_eq!(claims["aud"], format!("{origin}/c/client-abc"));
        assert_eq!(claims[&format!("{origin}/s/ent_auditservice_sdk")], true);
        assert_eq!(claims[&format!("{origin}/s/ent_user_sdk")], true);
        let now = crate::jwt::unix_now(PROVIDER).unwrap();
        let exp = claims["exp"].as_u64().unwrap();
        assert!(
            (now + 290..=now + 310).contains(&exp),
            "exp {exp}, now {now}"
        );

        // The signature verifies with the public half of the test key.
        let key = SigningKey::from_pem(KEY_PEM.as_bytes()).unwrap();
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key())
            .verify(signed.as_bytes(), &signature)
            .unwrap();
        let mut tampered = signature.clone();
        tampered[0] ^= 1;
        assert!(
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key())
                .verify(signed.as_bytes(), &tampered)
                .is_err()
        );
    }

    #[test]
    fn audience_and_metascopes_follow_the_ims_host() {
        let key = SigningKey::from_pem(KEY_PEM.as_bytes()).unwrap();
        let account = ServiceAccount::new(
            ORG.to_owned(),
            TECHNICAL.to_owned(),
            key,
            vec![
                "ent_auditservice_sdk".to_owned(),
                "https://ims-na1.adobelogin.com/s/ent_other".to_owned(),
            ],
        )
        .unwrap();
        for (environment, origin) in [
            (ImsEnvironment::Production, "https://ims-na1.adobelogin.com"),
            (ImsEnvironment::Stage, "https://ims-na1-stg1.adobelogin.com"),
        ] {
            let host = environment.host().unwrap().origin().ascii_serialization();
            assert_eq!(host, origin);
            let claims = account.claims("client-abc", &host, 1_700_000_000);
            assert_eq!(claims["aud"], format!("{origin}/c/client-abc"));
            assert_eq!(claims[&format!("{origin}/s/ent_auditservice_sdk")], true);
            assert_eq!(
                claims["https://ims-na1.adobelogin.com/s/ent_other"], true,
                "a full claim is kept as given"
            );
            assert_eq!(claims["exp"], 1_700_000_300_u64);
        }
    }

    #[tokio::test]
    async fn expires_in_is_milliseconds() {
        let server = jwt_server(86_399_000).await;
        assert_eq!(
            requests_after(&server, &jwt_credential(&server), &[HOUR, 23 * HOUR]).await,
            [1, 1, 2]
        );
    }

    #[tokio::test]
    async fn a_600000_ms_answer_is_a_ten_minute_token() {
        let server = jwt_server(600_000).await;
        // Refreshed when less than min(5 min, half of 10 min) remains: still cached at
        // 4 minutes, fetched again by 9.
        assert_eq!(
            requests_after(&server, &jwt_credential(&server), &[4 * MINUTE, 5 * MINUTE]).await,
            [1, 1, 2]
        );
    }

    #[test]
    fn pkcs1_keys_work_and_bad_keys_are_configuration_errors() {
        let pkcs8 = SigningKey::from_pem(KEY_PEM.as_bytes()).unwrap();
        let pkcs1 = SigningKey::from_pem(KEY_PKCS1_PEM.as_bytes()).unwrap();
        assert_eq!(pkcs8.public_key(), pkcs1.public_key());

        let bad_keys: [&[u8]; 3] = [
            b"not a pem at all",
            b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        ];
        for pem in bad_keys {
            let result = ImsCredential::jwt(
                "client-abc",
                JWT_SECRET,
                ORG,
                TECHNICAL,
                pem,
                ["ent_auditservice_sdk"],
            );
            let error = auth(result.unwrap_err());
            assert_eq!(error.kind(), AuthErrorKind::Configuration);
            let text = error.to_string();
            assert!(text.contains("private key"), "{text}");
            assert!(
                !text.contains("MIIB") && !text.contains(JWT_SECRET),
                "{text}"
            );
        }
        let no_metascopes = ImsCredential::jwt(
            "client-abc",
            JWT_SECRET,
            ORG,
            TECHNICAL,
            KEY_PEM.as_bytes(),
            [" "],
        );
        assert!(
            no_metascopes
                .unwrap_err()
                .to_string()
                .contains("at least one metascope")
        );
        let no_org = ImsCredential::jwt(
            "client-abc",
            JWT_SECRET,
            "",
            TECHNICAL,
            KEY_PEM.as_bytes(),
            ["m"],
        );
        assert!(no_org.unwrap_err().to_string().contains("org id is empty"));
    }

    #[tokio::test]
    async fn debug_output_never_shows_the_key_secret_or_tokens() {
        let server = jwt_server(86_399_000).await;
        let credential = jwt_credential(&server);
        let bearer = credential.bearer(&http(), TokenCache::new()).unwrap();
        bearer.headers().await.unwrap();
        let jwt = form(&requests(&server).await[0]).pop().unwrap().1;
        let key_line = KEY_PEM.lines().nth(5).unwrap();
        for text in [
            format!("{credential:?}"),
            format!("{credential:#?}"),
            format!("{bearer:?}"),
            format!("{bearer:#?}"),
        ] {
            assert!(text.contains(TECHNICAL), "{text}");
            for secret in [JWT_SECRET, TOKEN, key_line, "PRIVATE KEY", jwt.as_str()] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
    }
}
