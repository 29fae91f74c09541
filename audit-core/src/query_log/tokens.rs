//! Splitting SQL into the tokens the query logger reads: words, quoted identifiers,
//! placeholders, literals and punctuation. Comments are skipped.

use sea_orm::DbBackend;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Token<'a> {
    /// A bare word (keyword or identifier).
    Word(&'a str),
    /// A quoted identifier, without its quotes.
    Quoted(&'a str),
    /// A bound parameter, by 0-based position.
    Param(usize),
    /// A string or number literal.
    Literal,
    /// One punctuation character.
    Punct(char),
}

impl<'a> Token<'a> {
    pub(super) fn ident(self) -> Option<&'a str> {
        match self {
            Token::Word(w) | Token::Quoted(w) => Some(w),
            _ => None,
        }
    }

    pub(super) fn is_keyword(self, keyword: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

pub(super) fn tokenize(sql: &str, backend: DbBackend) -> Vec<Token<'_>> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut next_param = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(bytes.len(), |n| i + n + 4);
            }
            b'\'' => {
                i = skip_string(bytes, i, backend == DbBackend::MySql);
                tokens.push(Token::Literal);
            }
            b'"' | b'`' => {
                let end = sql[i + 1..]
                    .find(c as char)
                    .map_or(bytes.len(), |n| i + 1 + n);
                tokens.push(Token::Quoted(&sql[i + 1..end]));
                i = end + 1;
            }
            b'?' if backend != DbBackend::Postgres => {
                tokens.push(Token::Param(next_param));
                next_param += 1;
                i += 1;
            }
            b'$' if backend == DbBackend::Postgres
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) =>
            {
                let end = scan(bytes, i + 1, |b| b.is_ascii_digit());
                let n: usize = sql[i + 1..end].parse().unwrap_or(0);
                tokens.push(n.checked_sub(1).map_or(Token::Literal, Token::Param));
                i = end;
            }
            b'0'..=b'9' => {
                i = scan(bytes, i, |b| b.is_ascii_alphanumeric() || b == b'.');
                tokens.push(Token::Literal);
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let end = scan(bytes, i, |b| {
                    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
                });
                tokens.push(Token::Word(&sql[i..end]));
                i = end;
            }
            _ => {
                // Multi-byte characters only occur inside words, strings and identifiers.
                tokens.push(Token::Punct(c as char));
                i += 1;
            }
        }
    }
    tokens
}

fn scan(bytes: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    let mut end = from;
    while end < bytes.len() && keep(bytes[end]) {
        end += 1;
    }
    end
}

/// The index after the string literal opening at `start` (`''` escapes; `\` too on MySQL).
fn skip_string(bytes: &[u8], start: usize, backslash: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash => i += 2,
            b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}
