//! Text made safe for a person's terminal. Whatever a service controls — event fields, ids,
//! categories, the messages errors quote — may carry escape sequences that recolour, retitle
//! or rewrite the screen (or, in some terminals, answer back as typed input), and bidi
//! controls that show text in another order than its bytes (“Trojan Source”). Everything
//! printed for people goes through [`clean`]; JSON output is escaped by serde_json and stays
//! exact.

use std::borrow::Cow;

/// `text` with every control and bidi control character replaced by U+FFFD; borrowed when
/// there is none. The rule is the library's ([`auditkit::printable`]), which also cleans the
/// service's words inside error messages.
pub(crate) fn clean(text: &str) -> Cow<'_, str> {
    auditkit::printable(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_out_every_control_and_bidi_control() {
        let hostile = [
            '\u{0}', '\u{7}', '\u{8}', '\t', '\n', '\r', '\u{1b}', '\u{1f}', '\u{7f}', '\u{80}',
            '\u{9b}', '\u{9d}', '\u{9f}', '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}',
            '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}',
            '\u{2069}',
        ];
        for c in hostile {
            let text = format!("a{c}b");
            assert_eq!(clean(&text), "a\u{FFFD}b", "U+{:04X}", c as u32);
        }
        assert_eq!(
            clean("\u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}31mred"),
            "\u{FFFD}]0;owned\u{FFFD}\u{FFFD}[2J\u{FFFD}31mred"
        );
    }

    #[test]
    fn leaves_ordinary_text_alone_and_borrowed() {
        for text in [
            "Bob's Apps",
            "café ünïcödé",
            "שלום עולם",
            "日本語",
            "🚀 emoji",
            "",
            "\u{FFFD}",
        ] {
            assert!(
                matches!(clean(text), Cow::Borrowed(same) if same == text),
                "{text}"
            );
        }
    }
}
