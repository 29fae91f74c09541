//! Who is making a change, and why: the actor and metadata recorded with every audit row.
//!
//! The context lives in a task-local scope ([`AuditContext::scope`], [`with_actor`]), so it
//! follows one unit of async work across `.await` points and threads, never leaks into
//! other tasks, and ends with its future (also when that future panics). Code outside any
//! scope falls back to the global provider set with [`set_actor_provider`].

use std::future::Future;
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value as Json};

tokio::task_local! {
    static SCOPE: AuditContext;
}

type ActorProvider = Arc<dyn Fn() -> Option<String> + Send + Sync>;

static PROVIDER: RwLock<Option<ActorProvider>> = RwLock::new(None);

/// The actor and metadata attached to audit rows written inside a scope.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use audit_core::AuditContext;
/// let seen = AuditContext::new()
///     .actor("alice")
///     .request_id("req-42")
///     .ip("10.0.0.7")
///     .reason("support ticket #7")
///     .with("tenant", 7)
///     .scope(async {
///         // audited writes here carry actor `alice` and this context
///         audit_core::current_context()
///     })
///     .await;
/// assert_eq!(seen.actor_name(), Some("alice"));
/// assert_eq!(seen.metadata()["request_id"], "req-42");
/// assert_eq!(seen.metadata()["tenant"], 7);
/// assert_eq!(audit_core::current_actor(), None); // the scope has ended
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use = "a context does nothing until its `scope` is awaited"]
pub struct AuditContext {
    actor: Option<String>,
    metadata: Map<String, Json>,
}

impl AuditContext {
    /// An empty context: no actor, no metadata.
    ///
    /// ```
    /// let context = audit_core::AuditContext::new();
    /// assert_eq!(context.actor_name(), None);
    /// assert!(context.metadata().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the actor (user name, id, service account, ...).
    ///
    /// ```
    /// let context = audit_core::AuditContext::new().actor("alice");
    /// assert_eq!(context.actor_name(), Some("alice"));
    /// ```
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Adds `request_id` to the metadata.
    ///
    /// ```
    /// let context = audit_core::AuditContext::new().request_id("req-42");
    /// assert_eq!(context.metadata()["request_id"], "req-42");
    /// ```
    pub fn request_id(self, id: impl Into<String>) -> Self {
        self.with("request_id", id.into())
    }

    /// Adds `ip` to the metadata.
    ///
    /// ```
    /// let context = audit_core::AuditContext::new().ip("10.0.0.7");
    /// assert_eq!(context.metadata()["ip"], "10.0.0.7");
    /// ```
    pub fn ip(self, ip: impl Into<String>) -> Self {
        self.with("ip", ip.into())
    }

    /// Adds `reason` to the metadata.
    ///
    /// ```
    /// let context = audit_core::AuditContext::new().reason("GDPR request #12");
    /// assert_eq!(context.metadata()["reason"], "GDPR request #12");
    /// ```
    pub fn reason(self, reason: impl Into<String>) -> Self {
        self.with("reason", reason.into())
    }

    /// Adds any JSON value to the metadata under `key`.
    ///
    /// ```
    /// let context = audit_core::AuditContext::new().with("tenant", 7).with("dry_run", false);
    /// assert_eq!(context.metadata()["tenant"], 7);
    /// assert_eq!(context.metadata()["dry_run"], false);
    /// ```
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Json>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The actor of this context, if any.
    ///
    /// ```
    /// assert_eq!(audit_core::AuditContext::new().actor("cron").actor_name(), Some("cron"));
    /// ```
    pub fn actor_name(&self) -> Option<&str> {
        self.actor.as_deref()
    }

    /// The metadata of this context.
    ///
    /// ```
    /// let context = audit_core::AuditContext::new().request_id("r1").ip("::1");
    /// let keys: Vec<&str> = context.metadata().keys().map(String::as_str).collect();
    /// assert_eq!(keys, ["ip", "request_id"]);
    /// ```
    pub fn metadata(&self) -> &Map<String, Json> {
        &self.metadata
    }

    /// Runs `fut` with this context. Nested scopes inherit the outer one: the inner actor
    /// wins and metadata keys are merged, inner over outer.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use audit_core::AuditContext;
    /// let outer = AuditContext::new().actor("api").request_id("r1").ip("10.0.0.1");
    /// let seen = outer
    ///     .scope(AuditContext::new().actor("alice").ip("10.0.0.2").scope(async {
    ///         audit_core::current_context()
    ///     }))
    ///     .await;
    /// assert_eq!(seen.actor_name(), Some("alice"));
    /// assert_eq!(seen.metadata()["request_id"], "r1");
    /// assert_eq!(seen.metadata()["ip"], "10.0.0.2");
    /// # }
    /// ```
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        let merged = match SCOPE.try_with(Clone::clone) {
            Ok(outer) => outer.merge(self),
            Err(_) => self,
        };
        SCOPE.scope(merged, fut).await
    }

    fn merge(mut self, inner: AuditContext) -> AuditContext {
        if inner.actor.is_some() {
            self.actor = inner.actor;
        }
        self.metadata.extend(inner.metadata);
        self
    }

    /// The metadata as the JSON stored in `audit_log.context` (`None` when empty).
    pub(crate) fn context_json(&self) -> Option<Json> {
        (!self.metadata.is_empty()).then(|| Json::Object(self.metadata.clone()))
    }
}

/// Runs `fut` with `actor` as the current actor.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let actor = audit_core::with_actor("alice", async { audit_core::current_actor() }).await;
/// assert_eq!(actor.as_deref(), Some("alice"));
/// # }
/// ```
pub async fn with_actor<F: Future>(actor: impl Into<String>, fut: F) -> F::Output {
    AuditContext::new().actor(actor).scope(fut).await
}

/// Installs the global actor provider, consulted when no scope sets an actor
/// (for apps that keep the current user elsewhere). Replaces any earlier provider.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// audit_core::set_actor_provider(|| Some("cron".to_owned()));
/// assert_eq!(audit_core::current_actor().as_deref(), Some("cron"));
/// // A scope's actor wins over the provider.
/// let inner = audit_core::with_actor("alice", async { audit_core::current_actor() }).await;
/// assert_eq!(inner.as_deref(), Some("alice"));
/// audit_core::clear_actor_provider();
/// assert_eq!(audit_core::current_actor(), None);
/// # }
/// ```
pub fn set_actor_provider(provider: impl Fn() -> Option<String> + Send + Sync + 'static) {
    *PROVIDER.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(provider));
}

/// Removes the global actor provider (example at [`set_actor_provider`]).
///
/// ```
/// audit_core::set_actor_provider(|| Some("cron".to_owned()));
/// audit_core::clear_actor_provider();
/// assert_eq!(audit_core::current_actor(), None);
/// ```
pub fn clear_actor_provider() {
    *PROVIDER.write().unwrap_or_else(|e| e.into_inner()) = None;
}

/// The context in force here: the innermost scope's, with the actor taken from the global
/// provider when no scope sets one (examples at [`AuditContext`] and [`AuditContext::scope`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use audit_core::AuditContext;
/// let request = AuditContext::new().actor("alice").request_id("r7");
/// let seen = request.scope(async { audit_core::current_context() }).await;
/// assert_eq!(seen.actor_name(), Some("alice"));
/// assert_eq!(seen.metadata()["request_id"], "r7");
/// assert_eq!(audit_core::current_context().actor_name(), None); // outside the scope
/// # Ok(())
/// # }
/// ```
pub fn current_context() -> AuditContext {
    let mut context = SCOPE.try_with(Clone::clone).unwrap_or_default();
    if context.actor.is_none() {
        let provider = PROVIDER.read().unwrap_or_else(|e| e.into_inner()).clone();
        context.actor = provider.and_then(|provide| provide());
    }
    context
}

/// The actor in force here (see [`current_context`]; examples at [`with_actor`] and
/// [`set_actor_provider`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// assert_eq!(audit_core::current_actor(), None);
/// let inside = audit_core::with_actor("alice", async { audit_core::current_actor() }).await;
/// assert_eq!(inside.as_deref(), Some("alice"));
/// # Ok(())
/// # }
/// ```
pub fn current_actor() -> Option<String> {
    current_context().actor
}
