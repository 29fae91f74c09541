//! Splitting SQL into the tokens the query logger reads: words, quoted identifiers,
//! placeholders, literals and punctuation, by each backend's own lexical rules. Comments are
//! skipped. What a backend could read two ways (a server setting decides) or that the logger
//! does not follow makes the whole statement unreadable: the caller then withholds every
//! parameter and treats it as a read of every sensitive table.

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

    /// Whether this is one of `keywords` (lowercase).
    pub(super) fn is_any(self, keywords: &[&str]) -> bool {
        matches!(self, Token::Word(w) if keywords.iter().any(|k| w.eq_ignore_ascii_case(k)))
    }
}

/// A statement's tokens, or why it cannot be read.
#[derive(Debug)]
pub(super) struct Lexed<'a> {
    pub tokens: Vec<Token<'a>>,
    /// Set when the SQL cannot be read with certainty.
    pub unreadable: Option<&'static str>,
    /// One more than the highest parameter position seen.
    pub params: usize,
}

/// Lexes the whole of `sql`.
pub(super) fn tokenize(sql: &str, backend: DbBackend) -> Lexed<'_> {
    let mut lexer = Lexer::new(sql, backend);
    let mut tokens = Vec::with_capacity(sql.len() / 4);
    loop {
        match lexer.next_token() {
            Ok(Some(token)) => tokens.push(token),
            Ok(None) => break,
            Err(reason) => {
                return Lexed {
                    tokens,
                    unreadable: Some(reason),
                    params: lexer.params,
                };
            }
        }
    }
    Lexed {
        tokens,
        unreadable: None,
        params: lexer.params,
    }
}

/// The first token of `sql` (after comments), or `None` when there is none or it is unreadable.
pub(super) fn first_token(sql: &str, backend: DbBackend) -> Option<Token<'_>> {
    Lexer::new(sql, backend).next_token().ok().flatten()
}

struct Lexer<'a> {
    sql: &'a str,
    bytes: &'a [u8],
    backend: DbBackend,
    at: usize,
    /// The next `?`'s position (SQLite: one past the highest so far).
    params: usize,
}

type Lex<'a> = Result<Option<Token<'a>>, &'static str>;

impl<'a> Lexer<'a> {
    fn new(sql: &'a str, backend: DbBackend) -> Self {
        Lexer {
            sql,
            bytes: sql.as_bytes(),
            backend,
            at: 0,
            params: 0,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.at + ahead).copied()
    }

    fn is_word_byte(&self, b: u8) -> bool {
        b.is_ascii_alphanumeric()
            || b == b'_'
            || b >= 0x80
            || (b == b'$' && self.backend != DbBackend::Sqlite)
    }

    fn next_token(&mut self) -> Lex<'a> {
        use sea_orm::DatabaseBackend::{MySql, Postgres, Sqlite};
        loop {
            let Some(c) = self.peek(0) else {
                return Ok(None);
            };
            let backend = self.backend;
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => self.at += 1,
                b'-' if self.peek(1) == Some(b'-') => {
                    // MySQL: `--` starts a comment only before a space or control character.
                    if backend == MySql && self.peek(2).is_some_and(|b| b > b' ') {
                        self.at += 1;
                        return Ok(Some(Token::Punct('-')));
                    }
                    self.line_comment();
                }
                b'#' if backend == MySql => self.line_comment(),
                b'/' if self.peek(1) == Some(b'*') => self.block_comment()?,
                b'\'' => {
                    let backslash = backend == MySql;
                    self.string(backslash, backend != Sqlite)?;
                    return Ok(Some(Token::Literal));
                }
                b'"' => {
                    // MySQL reads `"..."` as a string or (ANSI_QUOTES) an identifier; both
                    // end at the same quote unless a backslash escapes it.
                    let text = self.quoted(b'"', backend == MySql)?;
                    return Ok(Some(Token::Quoted(text)));
                }
                b'`' if backend != Postgres => {
                    let text = self.quoted(b'`', false)?;
                    return Ok(Some(Token::Quoted(text)));
                }
                b'[' if backend == Sqlite => {
                    let start = self.at + 1;
                    let end = self.sql[start..]
                        .find(']')
                        .ok_or("unterminated [identifier]")?;
                    self.at = start + end + 1;
                    return Ok(Some(Token::Quoted(&self.sql[start..start + end])));
                }
                b'?' if backend != Postgres => return self.question_mark().map(Some),
                b'$' if backend == Postgres => return self.dollar().map(Some),
                b'$' | b':' | b'@' | b'#'
                    if backend == Sqlite && self.peek(1).is_some_and(|b| self.is_word_byte(b)) =>
                {
                    return Err("SQLite named parameter");
                }
                b'0'..=b'9' => return Ok(Some(self.number())),
                _ if c.is_ascii_alphabetic()
                    || c == b'_'
                    || c >= 0x80
                    || (c == b'$' && backend == MySql) =>
                {
                    return self.word();
                }
                _ => {
                    self.at += 1;
                    return Ok(Some(Token::Punct(c as char)));
                }
            }
        }
    }

    fn line_comment(&mut self) {
        // PostgreSQL ends a comment at `\r` too; SQLite and MySQL only at `\n`.
        let cr = self.backend == DbBackend::Postgres;
        while let Some(b) = self.peek(0) {
            self.at += 1;
            if b == b'\n' || (cr && b == b'\r') {
                break;
            }
        }
    }

    fn block_comment(&mut self) -> Result<(), &'static str> {
        let rest = &self.sql[self.at + 2..];
        match self.backend {
            DbBackend::MySql => {
                // `/*! ... */` and MariaDB's `/*M! ... */` are run, not skipped.
                if rest.starts_with('!') || rest.starts_with("M!") {
                    return Err("MySQL executable comment");
                }
                let end = rest.find("*/").ok_or("unterminated comment")?;
                self.at += 2 + end + 2;
            }
            DbBackend::Postgres => {
                // PostgreSQL comments nest.
                let mut depth = 1;
                let mut i = self.at + 2;
                while depth > 0 {
                    match (self.bytes.get(i), self.bytes.get(i + 1)) {
                        (None, _) => return Err("unterminated comment"),
                        (Some(b'/'), Some(b'*')) => {
                            depth += 1;
                            i += 2;
                        }
                        (Some(b'*'), Some(b'/')) => {
                            depth -= 1;
                            i += 2;
                        }
                        _ => i += 1,
                    }
                }
                self.at = i;
            }
            // SQLite: an unterminated comment runs to the end.
            _ => {
                self.at = rest
                    .find("*/")
                    .map_or(self.bytes.len(), |e| self.at + 2 + e + 2)
            }
        }
        Ok(())
    }

    /// A `'...'` literal with `''` escapes; `backslash`: `\` escapes too. A backslash where
    /// the server's settings decide what it means (`ambiguous`) makes the statement unreadable.
    fn string(&mut self, backslash: bool, ambiguous: bool) -> Result<(), &'static str> {
        let mut i = self.at + 1;
        loop {
            match self.bytes.get(i) {
                None => return Err("unterminated string"),
                Some(b'\\') if backslash => {
                    if ambiguous {
                        return Err("backslash in a string");
                    }
                    i += 2;
                }
                Some(b'\\') if ambiguous => return Err("backslash in a string"),
                Some(b'\'') if self.bytes.get(i + 1) == Some(&b'\'') => i += 2,
                Some(b'\'') => {
                    self.at = i + 1;
                    return Ok(());
                }
                Some(_) => i += 1,
            }
        }
    }

    /// A `quote`-delimited identifier with doubled-quote escapes, returned without quotes.
    fn quoted(&mut self, quote: u8, no_backslash: bool) -> Result<&'a str, &'static str> {
        let start = self.at + 1;
        let mut i = start;
        loop {
            match self.bytes.get(i) {
                None => return Err("unterminated quoted identifier"),
                Some(b'\\') if no_backslash => return Err("backslash in a quoted name"),
                Some(&b) if b == quote && self.bytes.get(i + 1) == Some(&quote) => i += 2,
                Some(&b) if b == quote => {
                    self.at = i + 1;
                    return Ok(&self.sql[start..i]);
                }
                Some(_) => i += 1,
            }
        }
    }

    /// `?` (the next position) or SQLite's `?NNN` (position NNN).
    fn question_mark(&mut self) -> Result<Token<'a>, &'static str> {
        self.at += 1;
        let digits = self.scan(|b| b.is_ascii_digit());
        let position = if digits.is_empty() || self.backend != DbBackend::Sqlite {
            self.params
        } else {
            let n: usize = digits.parse().map_err(|_| "bad parameter number")?;
            n.checked_sub(1).ok_or("parameter ?0")?
        };
        if !digits.is_empty() && self.backend != DbBackend::Sqlite {
            // MySQL `?1` is `?` then `1`.
            self.at -= digits.len();
        }
        self.params = self.params.max(position + 1);
        Ok(Token::Param(position))
    }

    /// PostgreSQL: `$N`, a dollar-quoted string `$tag$...$tag$`, or a lone `$`.
    fn dollar(&mut self) -> Result<Token<'a>, &'static str> {
        let start = self.at;
        self.at += 1;
        if self.peek(0).is_some_and(|b| b.is_ascii_digit()) {
            let digits = self.scan(|b| b.is_ascii_digit());
            let n: usize = digits.parse().map_err(|_| "bad parameter number")?;
            let position = n.checked_sub(1).ok_or("parameter $0")?;
            self.params = self.params.max(position + 1);
            return Ok(Token::Param(position));
        }
        let tag_len = self.bytes[self.at..]
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80))
            .unwrap_or(self.bytes.len() - self.at);
        if self.peek(tag_len) != Some(b'$') {
            return Ok(Token::Punct('$'));
        }
        let delimiter = &self.sql[start..self.at + tag_len + 1];
        let body = self.at + tag_len + 1;
        let end = self.sql[body..]
            .find(delimiter)
            .ok_or("unterminated dollar-quoted string")?;
        self.at = body + end + delimiter.len();
        Ok(Token::Literal)
    }

    fn scan(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
        let start = self.at;
        while self.peek(0).is_some_and(&keep) {
            self.at += 1;
        }
        &self.sql[start..self.at]
    }

    /// A number; on MySQL a run of word characters starting with a digit that is not a
    /// number is an identifier (`1st_table`).
    fn number(&mut self) -> Token<'a> {
        let start = self.at;
        if self.backend == DbBackend::MySql {
            let run =
                self.scan(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80);
            if !is_number(run) {
                return Token::Word(run);
            }
            self.at = start;
        }
        self.scan(|b| b.is_ascii_alphanumeric() || b == b'_');
        if self.peek(0) == Some(b'.') {
            self.at += 1;
            self.scan(|b| b.is_ascii_alphanumeric());
        }
        Token::Literal
    }

    fn word(&mut self) -> Lex<'a> {
        let start = self.at;
        self.at += 1;
        while self.peek(0).is_some_and(|b| self.is_word_byte(b)) {
            self.at += 1;
        }
        let word = &self.sql[start..self.at];
        if self.backend == DbBackend::Postgres {
            match (word, self.peek(0), self.peek(1)) {
                // `E'...'`: backslash escapes, whatever the server's settings.
                ("e" | "E", Some(b'\''), _) => {
                    self.string(true, false)?;
                    return Ok(Some(Token::Literal));
                }
                // `U&'...'` and `U&"..."`: escapes decide what the text is.
                ("u" | "U", Some(b'&'), Some(b'\'' | b'"')) => {
                    return Err("PostgreSQL U& escapes");
                }
                _ => {}
            }
        }
        Ok(Some(Token::Word(word)))
    }
}

/// Whether a MySQL word run starting with a digit is a number (`12`, `1e5`, `0x1F`, `0b1`).
fn is_number(run: &str) -> bool {
    let lower = run.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        return !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    if let Some(bits) = lower.strip_prefix("0b") {
        return !bits.is_empty() && bits.bytes().all(|b| b == b'0' || b == b'1');
    }
    let digits = lower.trim_start_matches(|c: char| c.is_ascii_digit());
    digits.is_empty()
        || digits
            .strip_prefix('e')
            .is_some_and(|exp| exp.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DatabaseBackend::{MySql, Postgres, Sqlite};

    fn words(sql: &str, backend: DbBackend) -> Vec<String> {
        let lexed = tokenize(sql, backend);
        assert_eq!(lexed.unreadable, None, "{sql}");
        lexed
            .tokens
            .iter()
            .map(|t| match t {
                Token::Word(w) => w.to_string(),
                Token::Quoted(q) => format!("<{q}>"),
                Token::Param(n) => format!("${n}"),
                Token::Literal => "L".to_owned(),
                Token::Punct(c) => c.to_string(),
            })
            .collect()
    }

    #[test]
    fn comments_by_dialect() {
        assert_eq!(words("a # x ?\n b", MySql), ["a", "b"]);
        assert_eq!(words("a --1\n b", MySql), ["a", "-", "-", "L", "b"]);
        assert_eq!(words("a -- ?\n b", MySql), ["a", "b"]);
        assert_eq!(words("a /* /* ? */ ? */ b", Postgres), ["a", "b"]);
        assert_eq!(words("a /* ? ", Sqlite), ["a"]);
        assert_eq!(words("a -- x\r b", Postgres), ["a", "b"]);
        assert_eq!(words("a -- x\r b", Sqlite), ["a"]);
        assert!(tokenize("SELECT /*! 1 */", MySql).unreadable.is_some());
    }

    #[test]
    fn strings_and_quotes() {
        assert_eq!(words(r"a E'\' ?' b", Postgres), ["a", "L", "b"]);
        assert_eq!(
            words("a $t$ ? 'x $t$ b $$?$$", Postgres),
            ["a", "L", "b", "L"]
        );
        assert_eq!(
            words("[acc] `a``b` \"c\"", Sqlite),
            ["<acc>", "<a``b>", "<c>"]
        );
        assert!(tokenize(r"'a\'", MySql).unreadable.is_some());
        assert!(tokenize(r"'a\'", Postgres).unreadable.is_some());
        assert_eq!(words(r"'a\'", Sqlite), ["L"]);
        assert!(tokenize(r#"U&"\0061""#, Postgres).unreadable.is_some());
    }

    #[test]
    fn parameters() {
        assert_eq!(words("?2, ?, ?1", Sqlite), ["$1", ",", "$2", ",", "$0"]);
        assert_eq!(tokenize("?2, ?", Sqlite).params, 3);
        assert_eq!(words("$2 ? $1", Postgres), ["$1", "?", "$0"]);
        assert!(tokenize("x = :name", Sqlite).unreadable.is_some());
        assert_eq!(words("1st_t 12 0x1f", MySql), ["1st_t", "L", "L"]);
    }
}
