//! Who may see what: the application's authorization hook and what it grants.

use std::collections::BTreeSet;

use axum::http::request::Parts;

/// What the application grants one request: who is asking (the actor of any revert they
/// make), which tables' trail they may read, and whether they may revert.
///
/// ```
/// use audit_core::viewer::Access;
/// let support = Access::tables("alice", ["order", "customer"]);
/// assert!(support.may_see("order") && !support.may_see("account"));
/// assert!(!support.may_revert());
/// let admin = Access::all("root").with_revert();
/// assert!(admin.may_see("account") && admin.may_revert());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Access {
    actor: String,
    tables: Option<BTreeSet<String>>,
    revert: bool,
}

impl Access {
    /// Every table's trail, read-only.
    pub fn all(actor: impl Into<String>) -> Self {
        Access {
            actor: actor.into(),
            tables: None,
            revert: false,
        }
    }

    /// Only these tables' trails (by audit table label), read-only.
    pub fn tables<T: Into<String>>(
        actor: impl Into<String>,
        tables: impl IntoIterator<Item = T>,
    ) -> Self {
        Access {
            actor: actor.into(),
            tables: Some(tables.into_iter().map(Into::into).collect()),
            revert: false,
        }
    }

    /// Also allows reverting a change (of an entity the viewer was told how to revert,
    /// [`Viewer::revertible`](super::Viewer::revertible)), as a new audited write by
    /// [`actor`](Self::actor).
    pub fn with_revert(mut self) -> Self {
        self.revert = true;
        self
    }

    /// The signed-in actor.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Whether the trail of `table` may be shown.
    pub fn may_see(&self, table: &str) -> bool {
        self.tables.as_ref().is_none_or(|t| t.contains(table))
    }

    /// Whether reverts are allowed.
    pub fn may_revert(&self) -> bool {
        self.revert
    }

    /// The tables this access is limited to, `None` for all.
    pub(crate) fn limited_to(&self) -> Option<&BTreeSet<String>> {
        self.tables.as_ref()
    }
}

/// The application's authorization hook: given a request's head (its headers, and the
/// extensions the application's own session middleware put there), the [`Access`] it
/// grants, or `None` to refuse it with 403. The viewer serves nothing without one.
///
/// Any `Fn(&Parts) -> Option<Access>` is one:
///
/// ```
/// use audit_core::viewer::{Access, Authorize};
/// let hook = |parts: &axum::http::request::Parts| {
///     let user = parts.headers.get("x-user")?.to_str().ok()?;
///     (user == "alice").then(|| Access::all(user))
/// };
/// let request = axum::http::Request::builder().header("x-user", "alice").body(()).unwrap();
/// assert!(hook.authorize(&request.into_parts().0).is_some());
/// ```
pub trait Authorize: Send + Sync + 'static {
    /// The access granted to this request, `None` to refuse it.
    fn authorize(&self, request: &Parts) -> Option<Access>;
}

impl<F> Authorize for F
where
    F: Fn(&Parts) -> Option<Access> + Send + Sync + 'static,
{
    fn authorize(&self, request: &Parts) -> Option<Access> {
        self(request)
    }
}
