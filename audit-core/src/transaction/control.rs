//! Transaction-control statements in raw SQL: the ones an audited transaction must see
//! to keep its buffered rows true to what commits.

/// What raw SQL does to the transaction it runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Control {
    /// Nothing: an ordinary statement.
    None,
    /// Begins a savepoint (`SAVEPOINT x`).
    Savepoint,
    /// Ends or rewinds a savepoint (`RELEASE x`, `ROLLBACK TO x`).
    EndSavepoint,
    /// Begins, commits or rolls back the whole transaction (`BEGIN`, `START TRANSACTION`,
    /// `COMMIT`, `ROLLBACK`): the wrapper owns those.
    Transaction,
}

/// Classifies `sql`, which may hold several `;`-separated statements (SQLite and MySQL
/// run them all): the strongest control any of them has. Statements are told apart by
/// their first word after comments; a `;` inside a string literal can only make this
/// see more statements than there are, so it errs towards treating SQL as control.
pub(super) fn classify(sql: &str) -> Control {
    let mut strongest = Control::None;
    for (i, piece) in sql.split(';').enumerate() {
        let mut words = leading_words(piece);
        let control = match words.next().map(|w| w.to_ascii_uppercase()).as_deref() {
            Some("SAVEPOINT") => Control::Savepoint,
            Some("RELEASE") => Control::EndSavepoint,
            Some("ROLLBACK") => {
                let next = words.next().map(|w| w.to_ascii_uppercase());
                match next.as_deref() {
                    Some("TO") => Control::EndSavepoint,
                    Some("WORK" | "TRANSACTION") if words.next().is_some_and(is_to) => {
                        Control::EndSavepoint
                    }
                    _ => Control::Transaction,
                }
            }
            Some("COMMIT" | "START") => Control::Transaction,
            // `BEGIN` also opens a trigger body (`CREATE TRIGGER ... BEGIN ...; END`), whose
            // pieces after the first `;` start with the body's statements or `END`.
            Some("BEGIN") if i == 0 => Control::Transaction,
            _ => Control::None,
        };
        strongest = strongest.max(control);
    }
    strongest
}

fn is_to(word: &str) -> bool {
    word.eq_ignore_ascii_case("TO")
}

impl Control {
    fn rank(self) -> u8 {
        match self {
            Control::None => 0,
            Control::EndSavepoint => 1,
            Control::Savepoint => 2,
            Control::Transaction => 3,
        }
    }

    fn max(self, other: Control) -> Control {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

/// The words of `sql` after leading white space and comments (`--`, `#`, `/* */`).
fn leading_words(sql: &str) -> impl Iterator<Item = &str> {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--").or_else(|| rest.strip_prefix('#')) {
            rest = after.split_once('\n').map_or("", |(_, next)| next);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, next)| next);
        } else {
            break;
        }
    }
    rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_control_statements_behind_comments_and_in_batches() {
        let cases = [
            ("UPDATE t SET a = 1", Control::None),
            ("SELECT 'rollback; commit'", Control::Transaction),
            ("savepoint x", Control::Savepoint),
            ("/* c */ -- d\n SAVEPOINT \"x\"", Control::Savepoint),
            ("# mysql\nRELEASE SAVEPOINT x", Control::EndSavepoint),
            ("ROLLBACK TO SAVEPOINT x", Control::EndSavepoint),
            ("rollback work to x", Control::EndSavepoint),
            ("ROLLBACK", Control::Transaction),
            ("COMMIT", Control::Transaction),
            ("START TRANSACTION", Control::Transaction),
            ("BEGIN IMMEDIATE", Control::Transaction),
            (
                "UPDATE t SET a = 1; SAVEPOINT y; UPDATE t SET a = 2",
                Control::Savepoint,
            ),
            (
                "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
                Control::None,
            ),
            ("SELECT release_date, rollback_id FROM t", Control::None),
        ];
        for (sql, expected) in cases {
            assert_eq!(classify(sql), expected, "{sql}");
        }
    }
}
