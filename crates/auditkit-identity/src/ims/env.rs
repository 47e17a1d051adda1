//! Credentials from variables: `ADOBE_CLIENT_ID`, `ADOBE_CLIENT_SECRET`, `ADOBE_SCOPES`, …,
//! with errors that name a missing variable or a near-miss set in its place.

use reqwest::Url;
#[cfg(feature = "ims-jwt")]
use secrecy::ExposeSecret as _;
use secrecy::zeroize::Zeroize;

#[cfg(feature = "ims-jwt")]
use super::jwt::ServiceAccount;
use super::{ImsCredential, ImsEnvironment, configuration};
#[cfg(feature = "ims-jwt")]
use crate::jwt::SigningKey;

impl ImsCredential {
    /// Reads the credential from the process environment; see [`ImsCredential::from_vars`].
    pub fn from_env() -> Result<Self, crate::Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the credential from `lookup` (the environment, a config map, a test's table):
    ///
    /// - `ADOBE_CLIENT_ID`, `ADOBE_CLIENT_SECRET`: required;
    /// - `ADOBE_SCOPES`: required for Server-to-Server, comma-separated;
    /// - `ADOBE_IMS_ORG_ID`: optional, sent as `x-gw-ims-org-id`;
    /// - `ADOBE_IMS_ENV` (`production` or `stage`) or `ADOBE_IMS_HOST` (a URL, for an emulator):
    ///   optional, production by default;
    /// - with the `ims-jwt` feature, `ADOBE_TECHNICAL_ACCOUNT_ID` and `ADOBE_PRIVATE_KEY_PATH`
    ///   select the Service Account (JWT) flow, which also needs `ADOBE_IMS_ORG_ID` and
    ///   `ADOBE_METASCOPES` (comma-separated).
    ///
    /// Errors (kind [`Configuration`](crate::AuthErrorKind::Configuration)) name the missing
    /// or malformed variable, and a near-miss such as `ADOBE_CLIENT_SECRETS` set in place of
    /// `ADOBE_CLIENT_SECRET`.
    pub fn from_vars<F>(lookup: F) -> Result<Self, crate::Error>
    where
        F: Fn(&str) -> Option<String>,
    {
        let vars = Vars(&lookup);
        let client_id = vars.required(&CLIENT_ID)?;
        let client_secret = crate::secret::secret(vars.required(&CLIENT_SECRET)?);
        let org_id = vars.optional(&ORG_ID)?;
        let environment = vars.environment()?;
        #[cfg(feature = "ims-jwt")]
        if let Some(account) = vars.service_account(org_id.as_deref())? {
            let credential = Self::service_account(client_id, client_secret, account);
            return Ok(credential.environment(environment));
        }
        let scopes = vars.list(&SCOPES)?;
        let credential =
            Self::server_to_server_from(client_id, client_secret, scopes).environment(environment);
        Ok(match org_id {
            Some(org_id) => credential.org_id(org_id),
            None => credential,
        })
    }
}

/// A variable [`ImsCredential::from_vars`] reads, and names people put there by mistake.
struct Var {
    name: &'static str,
    near_misses: &'static [&'static str],
}

const CLIENT_ID: Var = Var {
    name: "ADOBE_CLIENT_ID",
    near_misses: &["ADOBE_CLIENT_IDS", "ADOBE_CLIENTID", "ADOBE_API_KEY"],
};
const CLIENT_SECRET: Var = Var {
    name: "ADOBE_CLIENT_SECRET",
    near_misses: &["ADOBE_CLIENT_SECRETS", "ADOBE_CLIENTSECRET", "ADOBE_SECRET"],
};
const SCOPES: Var = Var {
    name: "ADOBE_SCOPES",
    near_misses: &["ADOBE_SCOPE", "ADOBE_IMS_SCOPES"],
};
const ORG_ID: Var = Var {
    name: "ADOBE_IMS_ORG_ID",
    near_misses: &["ADOBE_ORG_ID", "ADOBE_IMS_ORG"],
};
const IMS_ENV: Var = Var {
    name: "ADOBE_IMS_ENV",
    near_misses: &["ADOBE_IMS_ENVIRONMENT"],
};
const IMS_HOST: Var = Var {
    name: "ADOBE_IMS_HOST",
    near_misses: &["ADOBE_IMS_URL"],
};
#[cfg(feature = "ims-jwt")]
const TECHNICAL_ACCOUNT_ID: Var = Var {
    name: "ADOBE_TECHNICAL_ACCOUNT_ID",
    near_misses: &["ADOBE_TECHNICAL_ACCOUNT", "ADOBE_TECH_ACCOUNT_ID"],
};
#[cfg(feature = "ims-jwt")]
const PRIVATE_KEY_PATH: Var = Var {
    name: "ADOBE_PRIVATE_KEY_PATH",
    near_misses: &[
        "ADOBE_PRIVATE_KEY_FILE",
        "ADOBE_PRIVATE_KEY",
        "ADOBE_KEY_PATH",
    ],
};
#[cfg(feature = "ims-jwt")]
const METASCOPES: Var = Var {
    name: "ADOBE_METASCOPES",
    near_misses: &["ADOBE_METASCOPE", "ADOBE_META_SCOPES"],
};

/// Named lookups over the caller's closure, with errors that name the variable.
struct Vars<'a, F>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    /// The trimmed value, `None` when unset or blank; a near-miss set instead is an error.
    fn optional(&self, var: &Var) -> Result<Option<String>, crate::Error> {
        if let Some(value) = self.read(var.name).filter(|v| !v.is_empty()) {
            return Ok(Some(value));
        }
        match var.near_misses.iter().find(|near| self.is_set(near)) {
            Some(near) => Err(configuration(format!(
                "{name} is not set, but {near} is: did you mean {name}?",
                name = var.name
            ))),
            None => Ok(None),
        }
    }

    fn required(&self, var: &Var) -> Result<String, crate::Error> {
        match self.optional(var)? {
            Some(value) => Ok(value),
            None if self.is_set(var.name) => {
                Err(configuration(format!("{} is set but empty", var.name)))
            }
            None => Err(configuration(format!("{} is not set", var.name))),
        }
    }

    /// The value of `name` without the white space around it. The value as it came is wiped:
    /// it may be a secret.
    fn read(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|mut value| {
            let trimmed = value.trim().to_owned();
            value.zeroize();
            trimmed
        })
    }

    /// Whether `name` is set. Its value, perhaps a secret under a wrong name, is wiped unread.
    fn is_set(&self, name: &str) -> bool {
        (self.0)(name).map(|mut value| value.zeroize()).is_some()
    }

    /// A comma-separated list: entries trimmed, empty ones dropped, at least one left.
    fn list(&self, var: &Var) -> Result<Vec<String>, crate::Error> {
        let text = self.required(var)?;
        let items: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect();
        if items.is_empty() {
            return Err(configuration(format!(
                "{} has no entries (expected a comma-separated list)",
                var.name
            )));
        }
        Ok(items)
    }

    fn environment(&self) -> Result<ImsEnvironment, crate::Error> {
        match (self.optional(&IMS_ENV)?, self.optional(&IMS_HOST)?) {
            (Some(_), Some(_)) => Err(configuration(
                "ADOBE_IMS_ENV and ADOBE_IMS_HOST are both set: set one",
            )),
            (Some(env), None) => match env.to_ascii_lowercase().as_str() {
                "production" => Ok(ImsEnvironment::Production),
                "stage" => Ok(ImsEnvironment::Stage),
                _ => Err(configuration(format!(
                    "ADOBE_IMS_ENV must be production or stage, got {env:?}"
                ))),
            },
            (None, Some(host)) => custom_host(&host).map(ImsEnvironment::Custom),
            (None, None) => Ok(ImsEnvironment::Production),
        }
    }

    /// The Service Account (JWT) flow, when its variables are set.
    #[cfg(feature = "ims-jwt")]
    fn service_account(
        &self,
        org_id: Option<&str>,
    ) -> Result<Option<ServiceAccount>, crate::Error> {
        let (technical_account_id, key_path) = match (
            self.optional(&TECHNICAL_ACCOUNT_ID)?,
            self.optional(&PRIVATE_KEY_PATH)?,
        ) {
            (None, None) => return Ok(None),
            (Some(technical), Some(path)) => (technical, path),
            (Some(_), None) => {
                return Err(configuration(
                    "ADOBE_PRIVATE_KEY_PATH is not set (ADOBE_TECHNICAL_ACCOUNT_ID selects the jwt flow)",
                ));
            }
            (None, Some(_)) => {
                return Err(configuration(
                    "ADOBE_TECHNICAL_ACCOUNT_ID is not set (ADOBE_PRIVATE_KEY_PATH selects the jwt flow)",
                ));
            }
        };
        let org_id = org_id.ok_or_else(|| {
            configuration("ADOBE_IMS_ORG_ID is not set (the service account (jwt) flow needs it)")
        })?;
        let metascopes = self.list(&METASCOPES)?;
        let pem = std::fs::read(&key_path)
            .map(secrecy::SecretSlice::from)
            .map_err(|err| {
                configuration(format!(
                    "cannot read ADOBE_PRIVATE_KEY_PATH ({key_path}): {err}"
                ))
            })?;
        let key = SigningKey::from_pem(pem.expose_secret())
            .map_err(|err| configuration(format!("ADOBE_PRIVATE_KEY_PATH ({key_path}) {err}")))?;
        ServiceAccount::new(org_id.to_owned(), technical_account_id, key, metascopes)
            .map(Some)
            .map_err(configuration)
    }
}

/// `ADOBE_IMS_HOST`: an http(s) URL, with a trailing slash so the token paths join under it.
/// The value is not quoted back: a URL may carry a password.
fn custom_host(text: &str) -> Result<Url, crate::Error> {
    let mut url = Url::parse(text)
        .map_err(|err| configuration(format!("ADOBE_IMS_HOST is not a URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(configuration(format!(
            "ADOBE_IMS_HOST must be an http or https URL, got scheme {:?}",
            url.scheme()
        )));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "ims-jwt")]
    use auditkit_runtime::Credential;

    use secrecy::ExposeSecret;

    use super::super::Method;
    use super::super::test_support::*;
    use super::*;
    use crate::TokenCache;

    #[test]
    fn from_vars_reads_server_to_server() {
        let credential = ImsCredential::from_vars(vars(&with(&[
            ("ADOBE_IMS_ORG_ID", "ORG1@AdobeOrg"),
            ("ADOBE_SCOPES", " openid, ,AdobeID ,, read_organizations,"),
        ])))
        .unwrap();
        assert_eq!(credential.client_id(), "client-abc");
        assert_eq!(credential.secrets.len(), 1);
        assert_eq!(credential.secrets[0].expose_secret(), SECRET);
        match &credential.method {
            Method::ServerToServer { scopes } => {
                assert_eq!(scopes, &["openid", "AdobeID", "read_organizations"])
            }
            #[allow(unreachable_patterns)]
            other => panic!("{other:?}"),
        }
        assert_eq!(credential.org_id.as_deref(), Some("ORG1@AdobeOrg"));
        assert_eq!(credential.environment, ImsEnvironment::Production);

        let minimal = ImsCredential::from_vars(vars(&BASE)).unwrap();
        assert_eq!(minimal.org_id, None);
        assert_eq!(minimal.environment, ImsEnvironment::Production);
    }

    #[test]
    fn from_vars_names_what_is_missing() {
        for missing in ["ADOBE_CLIENT_ID", "ADOBE_CLIENT_SECRET", "ADOBE_SCOPES"] {
            let pairs: Vec<_> = BASE
                .iter()
                .filter(|(k, _)| *k != missing)
                .copied()
                .collect();
            assert!(
                from_vars_error(&pairs).contains(&format!("{missing} is not set")),
                "{missing}"
            );
            let blank: Vec<_> = BASE
                .iter()
                .map(|&(k, v)| if k == missing { (k, "  ") } else { (k, v) })
                .collect();
            assert!(
                from_vars_error(&blank).contains(&format!("{missing} is set but empty")),
                "{missing}"
            );
        }
        let text = from_vars_error(&with(&[("ADOBE_SCOPES", " , ,")]));
        assert!(text.contains("ADOBE_SCOPES has no entries"), "{text}");
    }

    #[test]
    fn from_vars_spots_near_misses() {
        let pairs = [
            ("ADOBE_CLIENT_ID", "client-abc"),
            ("ADOBE_CLIENT_SECRETS", SECRET),
            ("ADOBE_SCOPES", "openid"),
        ];
        let text = from_vars_error(&pairs);
        assert!(text.contains("ADOBE_CLIENT_SECRET is not set"), "{text}");
        assert!(text.contains("ADOBE_CLIENT_SECRETS"), "{text}");
        assert!(text.contains("did you mean ADOBE_CLIENT_SECRET?"), "{text}");

        let pairs = [
            ("ADOBE_CLIENT_ID", "client-abc"),
            ("ADOBE_CLIENT_SECRET", SECRET),
            ("ADOBE_SCOPE", "openid"),
        ];
        assert!(from_vars_error(&pairs).contains("did you mean ADOBE_SCOPES?"));
        assert!(
            from_vars_error(&with(&[("ADOBE_ORG_ID", "ORG1@AdobeOrg")]))
                .contains("did you mean ADOBE_IMS_ORG_ID?")
        );
        // The right name wins over a near-miss.
        assert!(
            ImsCredential::from_vars(vars(&with(&[("ADOBE_CLIENT_SECRETS", "other")]))).is_ok()
        );
    }

    #[test]
    fn from_vars_picks_the_ims() {
        let env = |value: &'static str| {
            ImsCredential::from_vars(vars(&with(&[("ADOBE_IMS_ENV", value)])))
        };
        assert_eq!(env("stage").unwrap().environment, ImsEnvironment::Stage);
        assert_eq!(
            env("Production").unwrap().environment,
            ImsEnvironment::Production
        );
        assert_eq!(
            env("stage").unwrap().environment.host().unwrap().as_str(),
            "https://ims-na1-stg1.adobelogin.com/"
        );
        let text = from_vars_error(&with(&[("ADOBE_IMS_ENV", "prod")]));
        assert!(
            text.contains(r#"ADOBE_IMS_ENV must be production or stage, got "prod""#),
            "{text}"
        );

        let host = |value: &'static str| {
            ImsCredential::from_vars(vars(&with(&[("ADOBE_IMS_HOST", value)])))
        };
        assert_eq!(
            host("http://127.0.0.1:9000").unwrap().environment,
            ImsEnvironment::Custom(Url::parse("http://127.0.0.1:9000/").unwrap())
        );
        assert_eq!(
            host("http://localhost:9000/emulator").unwrap().environment,
            ImsEnvironment::Custom(Url::parse("http://localhost:9000/emulator/").unwrap())
        );
        assert!(
            from_vars_error(&with(&[("ADOBE_IMS_HOST", "not a url")]))
                .contains("ADOBE_IMS_HOST is not a URL")
        );
        assert!(
            from_vars_error(&with(&[("ADOBE_IMS_HOST", "localhost:9000")]))
                .contains("ADOBE_IMS_HOST must be an http")
        );
        let both = from_vars_error(&with(&[
            ("ADOBE_IMS_ENV", "stage"),
            ("ADOBE_IMS_HOST", "http://127.0.0.1:9000"),
        ]));
        assert!(both.contains("both set"), "{both}");
    }

    #[tokio::test]
    async fn from_vars_credential_works_against_an_emulator() {
        let server = s2s_server(token_answer(86399.into())).await;
        let uri = server.uri();
        let lookup = move |name: &str| match name {
            "ADOBE_IMS_HOST" => Some(uri.clone()),
            other => vars(&BASE)(other),
        };
        let bearer = ImsCredential::from_vars(lookup)
            .unwrap()
            .bearer(&http(), TokenCache::new())
            .unwrap();
        assert_eq!(bearer.token().await.unwrap().expose_secret(), TOKEN);
    }

    #[cfg(not(feature = "ims-jwt"))]
    #[test]
    fn without_the_feature_jwt_variables_leave_server_to_server() {
        let credential = ImsCredential::from_vars(vars(&with(&[
            ("ADOBE_TECHNICAL_ACCOUNT_ID", "tech@techacct.adobe.com"),
            ("ADOBE_PRIVATE_KEY_PATH", "/nonexistent/key.pem"),
        ])))
        .unwrap();
        assert!(matches!(credential.method, Method::ServerToServer { .. }));
    }

    #[cfg(feature = "ims-jwt")]
    #[tokio::test]
    async fn from_vars_selects_the_service_account() {
        let server = jwt_server(86_399_000).await;
        let key_path = key_path();
        let uri = server.uri();
        let pairs = with(&[
            ("ADOBE_IMS_ORG_ID", ORG),
            ("ADOBE_TECHNICAL_ACCOUNT_ID", TECHNICAL),
            ("ADOBE_METASCOPES", "ent_auditservice_sdk, ent_user_sdk"),
        ]);
        let lookup = move |name: &str| match name {
            "ADOBE_PRIVATE_KEY_PATH" => Some(key_path.clone()),
            "ADOBE_IMS_HOST" => Some(uri.clone()),
            other => vars(&pairs)(other),
        };
        let credential = ImsCredential::from_vars(lookup).unwrap();
        match &credential.method {
            Method::ServiceAccount(account) => {
                assert_eq!(account.metascopes, ["ent_auditservice_sdk", "ent_user_sdk"]);
                assert_eq!(account.technical_account_id, TECHNICAL);
            }
            other => panic!("{other:?}"),
        }
        let bearer = credential.bearer(&http(), TokenCache::new()).unwrap();
        let headers = bearer.headers().await.unwrap();
        assert_eq!(header(&headers, "x-gw-ims-org-id"), Some(ORG));
    }

    #[cfg(feature = "ims-jwt")]
    #[test]
    fn from_vars_names_what_the_service_account_misses() {
        let key_path: &'static str = Box::leak(key_path().into_boxed_str());
        let full = [
            ("ADOBE_IMS_ORG_ID", ORG),
            ("ADOBE_TECHNICAL_ACCOUNT_ID", TECHNICAL),
            ("ADOBE_PRIVATE_KEY_PATH", key_path),
            ("ADOBE_METASCOPES", "ent_auditservice_sdk"),
        ];
        assert!(ImsCredential::from_vars(vars(&with(&full))).is_ok());
        for (missing, expected) in [
            ("ADOBE_IMS_ORG_ID", "ADOBE_IMS_ORG_ID is not set"),
            (
                "ADOBE_TECHNICAL_ACCOUNT_ID",
                "ADOBE_TECHNICAL_ACCOUNT_ID is not set",
            ),
            (
                "ADOBE_PRIVATE_KEY_PATH",
                "ADOBE_PRIVATE_KEY_PATH is not set",
            ),
            ("ADOBE_METASCOPES", "ADOBE_METASCOPES is not set"),
        ] {
            let pairs: Vec<_> = full
                .iter()
                .filter(|(k, _)| *k != missing)
                .copied()
                .collect();
            let text = from_vars_error(&with(&pairs));
            assert!(text.contains(expected), "{missing}: {text}");
        }
        let wrong_path = [
            ("ADOBE_IMS_ORG_ID", ORG),
            ("ADOBE_TECHNICAL_ACCOUNT_ID", TECHNICAL),
            ("ADOBE_PRIVATE_KEY_PATH", "/nonexistent/key.pem"),
            ("ADOBE_METASCOPES", "ent_auditservice_sdk"),
        ];
        let text = from_vars_error(&with(&wrong_path));
        assert!(
            text.contains("cannot read ADOBE_PRIVATE_KEY_PATH (/nonexistent/key.pem)"),
            "{text}"
        );
        let near = [
            ("ADOBE_TECHNICAL_ACCOUNT_ID", TECHNICAL),
            ("ADOBE_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----"),
        ];
        let text = from_vars_error(&with(&near));
        assert!(
            text.contains("did you mean ADOBE_PRIVATE_KEY_PATH?") && !text.contains("BEGIN"),
            "{text}"
        );
    }
}
