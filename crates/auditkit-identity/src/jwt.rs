//! The one JWT signer: RSA private keys and certificates from PEM, RS256 and PS256
//! signatures, base64url. Entra ID certificate credentials and the Adobe IMS service account
//! both sign with it.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use auditkit_runtime::{AuthError, AuthErrorKind};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::{Map, Value};

/// Which signature a JWT carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256 (what Entra ID's current documentation asks for).
    Ps256,
}

impl Algorithm {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Ps256 => "PS256",
        }
    }

    fn encoding(self) -> &'static dyn RsaEncoding {
        match self {
            Algorithm::Rs256 => &RSA_PKCS1_SHA256,
            Algorithm::Ps256 => &RSA_PSS_SHA256,
        }
    }
}

/// Why PEM text gave no certificate or no usable key. Displayed after the name of the input
/// (`private key PEM holds no private key`); never quotes the PEM text.
#[derive(Debug)]
pub(crate) enum PemError {
    NoCertificate,
    NoKey,
    EncryptedKey,
    Malformed(pem::Error),
    NotRsa,
    Rejected(ring::error::KeyRejected),
}

impl fmt::Display for PemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemError::NoCertificate => f.write_str("holds no certificate"),
            PemError::NoKey => f.write_str("holds no private key"),
            PemError::EncryptedKey => f.write_str(
                "holds an encrypted private key; give the key unencrypted (openssl pkcs8 -nocrypt)",
            ),
            // pem::Error names a marker line or a base64 fault, never the key's contents.
            PemError::Malformed(err) => write!(f, "is not valid PEM: {err}"),
            PemError::NotRsa => {
                f.write_str("holds a private key that is not RSA (only RSA keys are supported)")
            }
            PemError::Rejected(err) => write!(
                f,
                "holds a private key that is not a usable RSA key ({err})"
            ),
        }
    }
}

/// The first certificate of `pem_text`, as DER.
pub(crate) fn first_certificate(pem_text: &[u8]) -> Result<CertificateDer<'static>, PemError> {
    match CertificateDer::pem_slice_iter(pem_text).next() {
        Some(Ok(cert)) => Ok(cert),
        Some(Err(err)) => Err(PemError::Malformed(err)),
        None => Err(PemError::NoCertificate),
    }
}

/// An RSA private key that signs JWTs.
pub(crate) struct SigningKey(RsaKeyPair);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// The first private key of `pem_text`: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`) RSA, unencrypted.
    pub(crate) fn from_pem(pem_text: &[u8]) -> Result<Self, PemError> {
        let key = match PrivateKeyDer::from_pem_slice(pem_text) {
            Ok(PrivateKeyDer::Pkcs8(der)) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            Ok(PrivateKeyDer::Pkcs1(der)) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            Ok(_) => return Err(PemError::NotRsa),
            Err(pem::Error::NoItemsFound)
                if contains(pem_text, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") =>
            {
                return Err(PemError::EncryptedKey);
            }
            Err(pem::Error::NoItemsFound) => return Err(PemError::NoKey),
            Err(err) => return Err(PemError::Malformed(err)),
        };
        key.map(Self).map_err(PemError::Rejected)
    }

    /// The DER RSA public key.
    pub(crate) fn public_key(&self) -> &[u8] {
        self.0.public().as_ref()
    }

    /// Whether `certificate` carries this key's public half. The certificate embeds the DER
    /// RSA public key in its SubjectPublicKeyInfo; a key that does not match would only show
    /// up as a refusal at every token request.
    pub(crate) fn matches(&self, certificate: &CertificateDer<'_>) -> bool {
        contains(certificate.as_ref(), self.public_key())
    }

    /// `header.claims.signature`, base64url each: the header is `alg`, `typ: JWT` and
    /// `extra_header`.
    pub(crate) fn sign(
        &self,
        algorithm: Algorithm,
        extra_header: &[(&str, &str)],
        claims: &impl Serialize,
    ) -> Result<SecretString, SignError> {
        let mut header = Map::new();
        header.insert("alg".to_owned(), Value::from(algorithm.name()));
        header.insert("typ".to_owned(), Value::from("JWT"));
        for (name, value) in extra_header {
            header.insert((*name).to_owned(), Value::from(*value));
        }
        let header = serde_json::to_vec(&header).map_err(|_| SignError)?;
        let claims = serde_json::to_vec(claims).map_err(|_| SignError)?;
        let mut jwt = format!("{}.{}", base64url(header), base64url(claims));
        let mut signature = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(
                algorithm.encoding(),
                &SystemRandom::new(),
                jwt.as_bytes(),
                &mut signature,
            )
            .map_err(|_| SignError)?;
        jwt.push('.');
        jwt.push_str(&base64url(signature));
        Ok(SecretString::from(jwt))
    }
}

/// The key could not sign (the caller says what it was signing).
#[derive(Debug)]
pub(crate) struct SignError;

/// base64url without padding, as JWTs and certificate thumbprints use it.
pub(crate) fn base64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the Unix epoch, for `iat`, `nbf` and `exp`.
pub(crate) fn unix_now(provider: &'static str) -> Result<u64, AuthError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .map_err(|_| {
            AuthError::new(
                provider,
                AuthErrorKind::Configuration,
                "the system clock is before 1970; cannot date the jwt",
            )
        })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use ring::signature::{
        RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, UnparsedPublicKey,
        VerificationAlgorithm,
    };

    use super::*;

    const KEY: &[u8] = include_bytes!("../testdata/ims/key.pem");
    const KEY_PKCS1: &[u8] = include_bytes!("../testdata/ims/key-pkcs1.pem");
    const CERT: &[u8] = include_bytes!("../testdata/entra/cert.pem");
    const CERT_KEY: &[u8] = include_bytes!("../testdata/entra/key.pem");

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    fn claims() -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert("iss".to_owned(), Value::from("issuer"));
        claims.insert("exp".to_owned(), Value::from(1_700_000_300_u64));
        claims
    }

    /// Signs with `algorithm` and checks the three parts, the signature included.
    fn check(algorithm: Algorithm, verify: &'static dyn VerificationAlgorithm, alg: &str) {
        let key = SigningKey::from_pem(KEY).unwrap();
        let jwt = key.sign(algorithm, &[("kid", "k-1")], &claims()).unwrap();
        let jwt = secrecy::ExposeSecret::expose_secret(&jwt).to_owned();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3, "{jwt}");
        assert_eq!(
            decode(parts[0]),
            serde_json::json!({ "alg": alg, "typ": "JWT", "kid": "k-1" })
        );
        assert_eq!(
            decode(parts[1]),
            serde_json::json!({ "iss": "issuer", "exp": 1_700_000_300_u64 })
        );
        assert!(!jwt.contains('='), "base64url without padding: {jwt}");
        let signed = format!("{}.{}", parts[0], parts[1]);
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let public = UnparsedPublicKey::new(verify, key.public_key());
        public.verify(signed.as_bytes(), &signature).unwrap();
        signature[0] ^= 1;
        assert!(public.verify(signed.as_bytes(), &signature).is_err());
    }

    #[test]
    fn signs_rs256_and_ps256_verifiably() {
        check(Algorithm::Rs256, &RSA_PKCS1_2048_8192_SHA256, "RS256");
        check(Algorithm::Ps256, &RSA_PSS_2048_8192_SHA256, "PS256");
    }

    #[test]
    fn reads_pkcs8_and_pkcs1_and_names_what_is_wrong() {
        let pkcs8 = SigningKey::from_pem(KEY).unwrap();
        let pkcs1 = SigningKey::from_pem(KEY_PKCS1).unwrap();
        assert_eq!(pkcs8.public_key(), pkcs1.public_key());

        let cases: [(&[u8], &str); 6] = [
            (b"not a pem at all", "holds no private key"),
            (CERT, "holds no private key"),
            (
                b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                "holds an encrypted private key",
            ),
            (b"-----BEGIN PRIVATE KEY-----\nAAAA", "is not valid PEM"),
            (
                b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
                "is not valid PEM",
            ),
            (
                b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
                "holds a private key that is not a usable RSA key",
            ),
        ];
        for (pem, expected) in cases {
            let text = SigningKey::from_pem(pem).unwrap_err().to_string();
            assert!(text.starts_with(expected), "{text} should say {expected:?}");
            assert!(!text.contains("MIIB") && !text.contains("AAAA"), "{text}");
        }
        // An EC key is a key, but not one these credentials can sign with.
        let ec = b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(SigningKey::from_pem(ec), Err(PemError::NotRsa)));
        assert!(!format!("{pkcs8:?}").contains("MII"), "{pkcs8:?}");
    }

    #[test]
    fn a_certificate_matches_only_its_own_key() {
        let certificate = first_certificate(CERT).unwrap();
        assert!(
            SigningKey::from_pem(CERT_KEY)
                .unwrap()
                .matches(&certificate)
        );
        assert!(!SigningKey::from_pem(KEY).unwrap().matches(&certificate));
        assert!(matches!(
            first_certificate(KEY),
            Err(PemError::NoCertificate)
        ));
    }
}
