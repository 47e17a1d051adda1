//! Splits query option values into what the parsers read: the tokens of a `$filter`, and the
//! comma-separated items of `$orderby` and `$select`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use uuid::Uuid;

use super::ODataError;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    LParen,
    RParen,
    Comma,
    Slash,
    Ident(String),
    Str(String),
    Int(i64),
    DateTime(DateTime<Utc>),
    Guid(Uuid),
    End,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    /// Character index of the token's first character.
    pub(super) pos: usize,
    /// The token as written, for messages.
    pub(super) text: String,
}

fn is_guid_at(chars: &[char], start: usize) -> bool {
    let Some(candidate) = chars.get(start..start + 36) else {
        return false;
    };
    let shape_ok = candidate.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == '-',
        _ => c.is_ascii_hexdigit(),
    });
    let ends_there = chars
        .get(start + 36)
        .is_none_or(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')));
    shape_ok && ends_there
}

/// Characters that can continue an unquoted number or date-time literal.
fn is_literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '+' | '-' | '_')
}

fn parse_date_time(text: &str, position: usize) -> Result<DateTime<Utc>, ODataError> {
    let invalid = || {
        ODataError::invalid_hint(
            format!("invalid date-time literal '{text}'"),
            position,
            "expected e.g. 2022-08-22, 2025-03-24T15:14:04.218565Z or 2025-03-24T17:14:04+02:00",
        )
    };
    if text.len() == 10 {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid())?;
        return match date.and_hms_opt(0, 0, 0) {
            Some(midnight) => Ok(midnight.and_utc()),
            None => Err(invalid()),
        };
    }
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't')) {
        return Err(invalid());
    }
    let normalised = match text.strip_suffix(['Z', 'z']) {
        Some(rest) => format!("{rest}+00:00"),
        None => text.to_owned(),
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(&normalised) {
        return Ok(at.with_timezone(&Utc));
    }
    // OData also allows date-times without seconds.
    if let Ok(at) = DateTime::parse_from_str(&normalised, "%Y-%m-%dT%H:%M%:z") {
        return Ok(at.with_timezone(&Utc));
    }
    let without_zone = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .any(|format| NaiveDateTime::parse_from_str(text, format).is_ok());
    if without_zone {
        return Err(ODataError::invalid_hint(
            format!("date-time literal '{text}' has no time zone"),
            position,
            "add Z or an offset such as +02:00",
        ));
    }
    Err(invalid())
}

/// Splits a `$filter` into tokens; the last one is always [`Tok::End`].
pub(super) fn lex(text: &str) -> Result<Vec<Token>, ODataError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        let punct = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            '/' => Some(Tok::Slash),
            _ => None,
        };
        if let Some(tok) = punct {
            tokens.push(Token {
                tok,
                pos: start,
                text: c.to_string(),
            });
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '\'' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(ODataError::invalid_hint(
                            "unterminated string literal",
                            start,
                            "close it with ' and write a quote inside it as ''",
                        ));
                    }
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        value.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            let raw: String = chars.get(start..i).unwrap_or_default().iter().collect();
            tokens.push(Token {
                tok: Tok::Str(value),
                pos: start,
                text: raw,
            });
            continue;
        }
        let starts_number =
            c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if (c.is_ascii_alphanumeric() || starts_number) && is_guid_at(&chars, i) {
            let raw: String = chars.get(i..i + 36).unwrap_or_default().iter().collect();
            let guid = Uuid::parse_str(&raw)
                .map_err(|_| ODataError::invalid(format!("invalid guid '{raw}'"), start))?;
            tokens.push(Token {
                tok: Tok::Guid(guid),
                pos: start,
                text: raw,
            });
            i += 36;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            let raw: String = chars.get(start..i).unwrap_or_default().iter().collect();
            tokens.push(Token {
                tok: Tok::Ident(raw.clone()),
                pos: start,
                text: raw,
            });
            continue;
        }
        if starts_number {
            i += 1;
            while chars.get(i).is_some_and(|c| is_literal_char(*c)) {
                i += 1;
            }
            let raw: String = chars.get(start..i).unwrap_or_default().iter().collect();
            let digits = raw.strip_prefix('-').unwrap_or(&raw);
            let tok = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                let n = raw.parse::<i64>().map_err(|_| {
                    ODataError::invalid(format!("integer literal '{raw}' is out of range"), start)
                })?;
                Tok::Int(n)
            } else if raw.len() >= 10 && raw.as_bytes().get(4) == Some(&b'-') {
                Tok::DateTime(parse_date_time(&raw, start)?)
            } else {
                return Err(ODataError::invalid_hint(
                    format!("invalid literal '{raw}'"),
                    start,
                    "expected an integer, a date such as 2022-08-22 or a date-time",
                ));
            };
            tokens.push(Token {
                tok,
                pos: start,
                text: raw,
            });
            continue;
        }
        return Err(ODataError::invalid(
            format!("unexpected character '{c}'"),
            start,
        ));
    }
    tokens.push(Token {
        tok: Tok::End,
        pos: chars.len(),
        text: String::new(),
    });
    Ok(tokens)
}

/// Splits `text` at commas; each piece with the character index where it starts.
pub(super) fn split_commas(text: &str) -> Vec<(usize, String)> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (index, c) in text.chars().enumerate() {
        if c == ',' {
            pieces.push((start, std::mem::take(&mut current)));
            start = index + 1;
        } else {
            current.push(c);
        }
    }
    pieces.push((start, current));
    pieces
}

/// Splits at whitespace; each word with its character index.
pub(super) fn words(text: &str, offset: usize) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut in_word = false;
    for (index, c) in text.chars().enumerate() {
        if c.is_whitespace() {
            in_word = false;
        } else if in_word {
            if let Some((_, word)) = out.last_mut() {
                word.push(c);
            }
        } else {
            in_word = true;
            out.push((offset + index, c.to_string()));
        }
    }
    out
}
