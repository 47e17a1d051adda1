//! Credentials from the variables Microsoft's libraries read (`AZURE_TENANT_ID`,
//! `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, …).

use reqwest::Url;

use super::{EntraCredential, configuration};

impl EntraCredential {
    /// Credentials from the variables Microsoft's libraries read: `AZURE_TENANT_ID`,
    /// `AZURE_CLIENT_ID`, then the first of `AZURE_CLIENT_SECRET`,
    /// `AZURE_CLIENT_CERTIFICATE_PATH` (a PEM file with certificate and key) and
    /// `AZURE_FEDERATED_TOKEN_FILE`; `AZURE_AUTHORITY_HOST` overrides the login host.
    pub fn from_env() -> Result<Self, crate::Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`EntraCredential::from_env`] with the variables from `lookup`. Empty values count as
    /// not set.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, crate::Error> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let required =
            |name: &str| get(name).ok_or_else(|| configuration(format!("{name} is not set")));
        let tenant = required("AZURE_TENANT_ID")?.trim().to_owned();
        let client_id = required("AZURE_CLIENT_ID")?.trim().to_owned();
        let mut credential = if let Some(secret) = get("AZURE_CLIENT_SECRET") {
            Self::client_secret(tenant, client_id, secret)
        } else if let Some(path) = get("AZURE_CLIENT_CERTIFICATE_PATH") {
            // Only whether it is set matters; the password itself is wiped unread.
            let password = get("AZURE_CLIENT_CERTIFICATE_PASSWORD").map(crate::secret::secret);
            if password.is_some() {
                return Err(configuration(
                    "AZURE_CLIENT_CERTIFICATE_PASSWORD is set, but only unencrypted PEM keys are supported",
                ));
            }
            Self::certificate_from_pem_file(tenant, client_id, path)?
        } else if let Some(path) = get("AZURE_FEDERATED_TOKEN_FILE") {
            Self::client_assertion_file(tenant, client_id, path)
        } else {
            return Err(configuration(
                "none of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE is set",
            ));
        };
        if let Some(host) = get("AZURE_AUTHORITY_HOST") {
            let url = Url::parse(host.trim()).map_err(|err| {
                configuration(format!(
                    "AZURE_AUTHORITY_HOST is not a URL: {host:?} ({err})"
                ))
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(configuration(format!(
                    "AZURE_AUTHORITY_HOST is not an http(s) URL: {host:?}"
                )));
            }
            credential = credential.authority_host(url);
        }
        Ok(credential)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::{AuthErrorKind, GraphCloud};

    #[tokio::test]
    async fn from_vars_picks_the_method_from_the_variables() {
        let server = token_server(good_answer()).await;
        let authority = server.uri();
        let base = [
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_AUTHORITY_HOST", authority.as_str()),
        ];

        // The secret wins over the others.
        let cert_file = TempFile::new(&[CERT, KEY].concat());
        let cert_path = cert_file.0.display().to_string();
        let token_file = TempFile::new(b"federated.from.env");
        let token_path = token_file.0.display().to_string();
        let all = [
            &base[..],
            &[
                ("AZURE_CLIENT_SECRET", SECRET),
                ("AZURE_CLIENT_CERTIFICATE_PATH", cert_path.as_str()),
                ("AZURE_FEDERATED_TOKEN_FILE", token_path.as_str()),
            ],
        ]
        .concat();
        let credential = EntraCredential::from_vars(vars(&all)).unwrap();
        assert_eq!(
            (credential.tenant(), credential.client_id()),
            (TENANT, CLIENT)
        );
        fetch(&credential).await.unwrap();
        // Then the certificate, then the federated token file; empty values count as unset.
        let cert = [
            &base[..],
            &[
                ("AZURE_CLIENT_SECRET", ""),
                ("AZURE_CLIENT_CERTIFICATE_PATH", &cert_path),
                ("AZURE_FEDERATED_TOKEN_FILE", &token_path),
            ],
        ]
        .concat();
        fetch(&EntraCredential::from_vars(vars(&cert)).unwrap())
            .await
            .unwrap();
        let federated = [
            &base[..],
            &[("AZURE_FEDERATED_TOKEN_FILE", token_path.as_str())],
        ]
        .concat();
        fetch(&EntraCredential::from_vars(vars(&federated)).unwrap())
            .await
            .unwrap();

        let forms = posted_forms(&server).await;
        assert_eq!(
            forms.len(),
            3,
            "AZURE_AUTHORITY_HOST is where the requests went"
        );
        assert!(forms[0].contains(&("client_secret".to_owned(), SECRET.to_owned())));
        check_assertion(&assertion_of(&forms[1]), &token_url(&server), false);
        assert_eq!(assertion_of(&forms[2]), "federated.from.env");

        // An authority host with a path keeps it.
        let prefixed = [
            &federated[..2],
            &[
                ("AZURE_FEDERATED_TOKEN_FILE", token_path.as_str()),
                ("AZURE_AUTHORITY_HOST", "https://login.example/prefix"),
            ],
        ]
        .concat();
        let url = EntraCredential::from_vars(vars(&prefixed))
            .unwrap()
            .token_url(GraphCloud::Global)
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://login.example/prefix/contoso/oauth2/v2.0/token"
        );
        let default = EntraCredential::from_vars(vars(
            &all[..2]
                .iter()
                .chain(&all[3..4])
                .copied()
                .collect::<Vec<_>>(),
        ))
        .unwrap();
        assert_eq!(
            default.token_url(GraphCloud::UsGov).unwrap().as_str(),
            "https://login.microsoftonline.us/contoso/oauth2/v2.0/token"
        );
    }

    #[test]
    fn from_vars_names_what_is_missing_or_malformed() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (
                &[("AZURE_CLIENT_ID", CLIENT), ("AZURE_CLIENT_SECRET", SECRET)],
                "entra id: AZURE_TENANT_ID is not set",
            ),
            (
                &[
                    ("AZURE_TENANT_ID", " "),
                    ("AZURE_CLIENT_ID", CLIENT),
                    ("AZURE_CLIENT_SECRET", SECRET),
                ],
                "entra id: AZURE_TENANT_ID is not set",
            ),
            (
                &[("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_SECRET", SECRET)],
                "entra id: AZURE_CLIENT_ID is not set",
            ),
            (
                &[("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", CLIENT)],
                "entra id: none of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE is set",
            ),
            (
                &[
                    ("AZURE_TENANT_ID", TENANT),
                    ("AZURE_CLIENT_ID", CLIENT),
                    ("AZURE_CLIENT_SECRET", SECRET),
                    ("AZURE_AUTHORITY_HOST", "login.example"),
                ],
                "entra id: AZURE_AUTHORITY_HOST is not a URL: \"login.example\"",
            ),
            (
                &[
                    ("AZURE_TENANT_ID", TENANT),
                    ("AZURE_CLIENT_ID", CLIENT),
                    ("AZURE_CLIENT_CERTIFICATE_PATH", "/x.pem"),
                    ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pw"),
                ],
                "entra id: AZURE_CLIENT_CERTIFICATE_PASSWORD is set",
            ),
        ];
        for (table, expected) in cases {
            let err = auth_error(EntraCredential::from_vars(vars(table)).unwrap_err());
            assert_eq!(err.kind(), AuthErrorKind::Configuration);
            assert!(
                err.to_string().starts_with(expected),
                "{err} should start with {expected:?}"
            );
            assert!(!err.to_string().contains(SECRET));
        }
        let err = auth_error(
            EntraCredential::from_vars(vars(&[
                ("AZURE_TENANT_ID", TENANT),
                ("AZURE_CLIENT_ID", CLIENT),
                ("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent/auditkit.pem"),
            ]))
            .unwrap_err(),
        );
        assert!(
            err.to_string()
                .contains("cannot read certificate file /nonexistent/auditkit.pem"),
            "{err}"
        );
    }
}
