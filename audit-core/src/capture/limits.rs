//! What the audit table accepts, checked before a write changes anything.
//!
//! Every limit here is one the audit table (or the database's index on it) imposes; a
//! write that would break one is refused with [`AuditError::Input`] naming the field and
//! the limit, before its change is made, so no change can commit without its row.

use serde_json::Value as Json;

use crate::{AuditContext, AuditError};

/// The longest actor, in characters (the actor index holds it whole on every backend).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::limits::MAX_ACTOR_CHARS;
/// let long = "a".repeat(MAX_ACTOR_CHARS + 1);
/// let draft = ticket::ActiveModel { status: Set("new".into()), note: Set(String::new()), secret: Set(String::new()), ..Default::default() };
/// // Refused before the insert runs: no ticket without its trail.
/// let refused = audit_core::with_actor(long, draft.insert(&db)).await;
/// assert!(refused.unwrap_err().to_string().contains("actor is 513 characters long"));
/// assert_eq!(ticket::Entity::find().all(&db).await?.len(), 1);
/// # Ok(())
/// # }
/// ```
pub const MAX_ACTOR_CHARS: usize = 512;
/// The longest record id (a key's text form), in characters (the record index holds it).
///
/// ```
/// assert_eq!(audit_core::limits::MAX_RECORD_ID_CHARS, 512);
/// ```
pub const MAX_RECORD_ID_CHARS: usize = 512;
/// The longest table label, in characters.
///
/// ```
/// assert_eq!(audit_core::limits::MAX_TABLE_CHARS, 128);
/// ```
pub const MAX_TABLE_CHARS: usize = 128;
/// The deepest nesting of the context's JSON (arrays and objects).
///
/// ```
/// assert_eq!(audit_core::limits::MAX_CONTEXT_DEPTH, 32);
/// ```
pub const MAX_CONTEXT_DEPTH: usize = 32;
/// The largest context, in bytes of its JSON text.
///
/// ```
/// assert_eq!(audit_core::limits::MAX_CONTEXT_BYTES, 64 * 1024);
/// ```
pub const MAX_CONTEXT_BYTES: usize = 64 * 1024;

/// Checks the actor and context in force for a write to `table`.
pub(crate) fn check_scope(table: &str, context: &AuditContext) -> Result<(), AuditError> {
    check_text("table label", table, MAX_TABLE_CHARS)?;
    if let Some(actor) = context.actor_name() {
        check_text("actor", actor, MAX_ACTOR_CHARS)?;
    }
    if let Some(json) = context.context_json() {
        check_context(&json)?;
    }
    Ok(())
}

/// Checks a record id (the text form of a primary key).
pub(crate) fn check_record_id(table: &str, record_id: &str) -> Result<(), AuditError> {
    check_text(&format!("key of `{table}`"), record_id, MAX_RECORD_ID_CHARS)
}

fn check_text(what: &str, text: &str, max_chars: usize) -> Result<(), AuditError> {
    if text.contains('\0') {
        return Err(AuditError::Input(format!(
            "the {what} contains a NUL character, which the audit table cannot store"
        )));
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(AuditError::Input(format!(
            "the {what} is {chars} characters long; the audit table takes at most {max_chars}"
        )));
    }
    Ok(())
}

fn check_context(json: &Json) -> Result<(), AuditError> {
    let depth = depth(json);
    if depth > MAX_CONTEXT_DEPTH {
        return Err(AuditError::Input(format!(
            "the audit context nests {depth} levels deep; at most {MAX_CONTEXT_DEPTH} are allowed"
        )));
    }
    if has_nul(json) {
        return Err(AuditError::Input(
            "the audit context contains a NUL character, which the audit table cannot store"
                .to_owned(),
        ));
    }
    let bytes = json.to_string().len();
    if bytes > MAX_CONTEXT_BYTES {
        return Err(AuditError::Input(format!(
            "the audit context is {bytes} bytes of JSON; at most {MAX_CONTEXT_BYTES} are allowed"
        )));
    }
    Ok(())
}

/// Nesting depth, without recursion (a hostile value may be deeper than the stack).
fn depth(json: &Json) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(json, 1usize)];
    while let Some((value, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Json>> = match value {
            Json::Array(items) => Box::new(items.iter()),
            Json::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(level);
        stack.extend(children.map(|child| (child, level + 1)));
    }
    deepest
}

fn has_nul(json: &Json) -> bool {
    let mut stack = vec![json];
    while let Some(value) = stack.pop() {
        match value {
            Json::String(s) if s.contains('\0') => return true,
            Json::Array(items) => stack.extend(items),
            Json::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Json {
        (0..levels).fold(Json::from(1), |inner, _| Json::Array(vec![inner]))
    }

    #[test]
    fn refuses_what_the_table_cannot_hold() {
        let ok = AuditContext::new().actor("alice").with("deep", nested(30));
        assert!(check_scope("account", &ok).is_ok());
        let cases = [
            (AuditContext::new().actor("a\0b"), "actor contains a NUL"),
            (AuditContext::new().actor("x".repeat(513)), "513 characters"),
            (
                AuditContext::new().with("k", "a\0"),
                "context contains a NUL",
            ),
            (AuditContext::new().with("deep", nested(200)), "201 levels"),
            (
                AuditContext::new().with("big", "x".repeat(70_000)),
                "bytes of JSON",
            ),
        ];
        for (context, expected) in cases {
            let err = check_scope("account", &context).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        assert!(check_record_id("t", &"é".repeat(512)).is_ok());
        let err = check_record_id("t", &"é".repeat(513))
            .unwrap_err()
            .to_string();
        assert!(err.contains("key of `t`"), "{err}");
    }
}
