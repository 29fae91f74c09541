//! Process-wide settings: the audit table's name, strict mode, and the on/off switch.

use std::borrow::Cow;
use std::future::Future;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::AuditError;

/// Settings read by every audited write and history query.
///
/// Start from [`AuditConfig::default()`] and set the fields you need (the struct may gain
/// fields, so it cannot be built field by field outside this crate), then [`configure`].
///
/// Settings are process-wide because SeaORM hands an entity's hooks nothing but the
/// connection (`&impl ConnectionTrait`), which carries no settings of its own: there is no
/// per-connection place a hook could read them from. What does follow each write: the
/// backend and the transaction (audit rows go through the hook's own connection), the actor,
/// context and [`without_auditing`] (task-local scopes), and an
/// [`AuditTransaction`](crate::AuditTransaction)'s buffer.
///
/// ```
/// let settings = audit_core::AuditConfig::default();
/// assert_eq!(settings, audit_core::AuditConfig::DEFAULT);
/// assert_eq!(settings.table_name, "audit_log");
/// assert!(!settings.require_transaction);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditConfig {
    /// Name of the audit table (default `audit_log`).
    pub table_name: Cow<'static, str>,
    /// Strict mode: refuse audited writes that do not run inside a transaction.
    pub require_transaction: bool,
}

impl AuditConfig {
    /// The defaults: table `audit_log`, strict mode off.
    ///
    /// ```
    /// assert_eq!(audit_core::AuditConfig::DEFAULT.table_name, "audit_log");
    /// ```
    pub const DEFAULT: AuditConfig = AuditConfig {
        table_name: Cow::Borrowed("audit_log"),
        require_transaction: false,
    };
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

static CONFIG: RwLock<AuditConfig> = RwLock::new(AuditConfig::DEFAULT);

/// Replaces the process-wide settings. Fails, changing nothing, on an invalid table name
/// (it must be 1 to 63 ASCII letters, digits or `_`, not starting with a digit).
///
/// ```
/// let mut settings = audit_core::AuditConfig::default();
/// settings.table_name = "trail".into();
/// settings.require_transaction = true; // strict mode
/// audit_core::configure(settings.clone())?;
/// assert_eq!(audit_core::config().table_name, "trail");
///
/// settings.table_name = "audit log; drop".into();
/// assert!(audit_core::configure(settings).is_err());
/// assert_eq!(audit_core::config().table_name, "trail"); // unchanged
/// # audit_core::configure(audit_core::AuditConfig::default())?;
/// # Ok::<(), audit_core::AuditError>(())
/// ```
pub fn configure(config: AuditConfig) -> Result<(), AuditError> {
    validate_table_name("audit table", &config.table_name)?;
    *CONFIG.write().unwrap_or_else(|e| e.into_inner()) = config;
    Ok(())
}

/// The settings in force (see [`configure`]).
///
/// ```
/// assert_eq!(audit_core::config(), audit_core::AuditConfig::DEFAULT);
/// assert_eq!(audit_core::config().table_name, "audit_log");
/// ```
pub fn config() -> AuditConfig {
    CONFIG.read().unwrap_or_else(|e| e.into_inner()).clone()
}

pub(crate) fn table_name() -> String {
    CONFIG
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .table_name
        .to_string()
}

/// Checks a table name the library will create: `what` names it in the error.
pub(crate) fn validate_table_name(what: &str, name: &str) -> Result<(), AuditError> {
    let valid = (1..=63).contains(&name.len())
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(AuditError::Config(format!(
            "{what} name `{name}` must be 1 to 63 ASCII letters, digits or `_`, not starting with a digit"
        )))
    }
}

static ENABLED: AtomicBool = AtomicBool::new(true);

tokio::task_local! {
    static SUSPENDED: ();
}

/// Switches auditing on or off for the whole process (on by default). While off, audited
/// entities and [`crate::bulk`] run exactly the same statements for the change itself and
/// write no audit rows. Flip it between writes, not while one is running: an update whose
/// `before_save` saw it off and `after_save` on fails with a missing-old-state error.
///
/// ```
/// audit_core::set_enabled(false); // e.g. for a data import you audit otherwise
/// assert!(!audit_core::is_enabled());
/// audit_core::set_enabled(true);
/// assert!(audit_core::is_enabled());
/// ```
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether writes here are audited: the process-wide switch is on and no
/// [`without_auditing`] scope is in force (examples there and at [`set_enabled`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// assert!(audit_core::is_enabled());
/// assert!(!audit_core::without_auditing(async { audit_core::is_enabled() }).await);
/// # Ok(())
/// # }
/// ```
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed) && SUSPENDED.try_with(|_| ()).is_err()
}

/// Runs `fut` with auditing off for this task only (other tasks keep auditing).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let on = audit_core::without_auditing(async { audit_core::is_enabled() }).await;
/// assert!(!on);
/// assert!(audit_core::is_enabled()); // only inside
/// # }
/// ```
pub async fn without_auditing<F: Future>(fut: F) -> F::Output {
    SUSPENDED.scope((), fut).await
}
