//! Secrets handed in as strings become `SecretString`s here, and only here.

use secrecy::SecretString;
use secrecy::zeroize::Zeroize;

/// `value` as a secret; the string is wiped. `SecretString::from(String)` shrinks the string
/// into a box, which can reallocate and leave the old buffer behind unwiped; a copy into an
/// exactly sized box and a wipe of the original leave nothing.
pub(crate) fn secret(value: String) -> SecretString {
    trimmed(value, false)
}

/// [`secret`] without the white space around `value` (a value read from a variable or a file).
pub(crate) fn trimmed_secret(value: String) -> SecretString {
    trimmed(value, true)
}

fn trimmed(mut value: String, trim: bool) -> SecretString {
    let secret = SecretString::from(if trim { value.trim() } else { value.as_str() });
    value.zeroize();
    secret
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn keeps_the_value_and_trims_only_when_asked() {
        assert_eq!(secret(" s3 \n".to_owned()).expose_secret(), " s3 \n");
        assert_eq!(trimmed_secret(" s3 \n".to_owned()).expose_secret(), "s3");
        assert_eq!(trimmed_secret("s3".to_owned()).expose_secret(), "s3");
    }
}
