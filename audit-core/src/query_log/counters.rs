//! Statement counters per kind, lock-free, for metrics export.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::parse::QueryKind;

#[derive(Debug, Default)]
struct KindAtomics {
    statements: AtomicU64,
    failures: AtomicU64,
    total_ns: AtomicU64,
    max_ns: AtomicU64,
}

/// The live counters of one logger.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    kinds: [KindAtomics; 5],
    slow: AtomicU64,
    unreadable: AtomicU64,
}

impl Counters {
    /// Counts one statement.
    pub fn record(&self, kind: QueryKind, elapsed: Duration, failed: bool, slow: bool) {
        let counters = &self.kinds[kind.index()];
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        counters.statements.fetch_add(1, Relaxed);
        if failed {
            counters.failures.fetch_add(1, Relaxed);
        }
        counters.total_ns.fetch_add(nanos, Relaxed);
        counters.max_ns.fetch_max(nanos, Relaxed);
        if slow {
            self.slow.fetch_add(1, Relaxed);
        }
    }

    /// Counts one statement the logger could not read.
    pub fn record_unreadable(&self) {
        self.unreadable.fetch_add(1, Relaxed);
    }

    /// A snapshot of every counter.
    pub fn snapshot(&self) -> QueryCounters {
        QueryCounters {
            kinds: self.kinds.each_ref().map(|k| KindCounters {
                statements: k.statements.load(Relaxed),
                failures: k.failures.load(Relaxed),
                total: Duration::from_nanos(k.total_ns.load(Relaxed)),
                max: Duration::from_nanos(k.max_ns.load(Relaxed)),
            }),
            slow: self.slow.load(Relaxed),
            unreadable: self.unreadable.load(Relaxed),
        }
    }
}

/// The counters of one statement kind (or of all, from [`QueryCounters::total`]).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mut db = demo_db().await?;
/// use audit_core::query_log::{QueryKind, QueryLogger};
/// let logger = QueryLogger::attach(&mut db);
/// ticket::Entity::find().all(&db).await?;
/// let selects = logger.counters().kind(QueryKind::Select);
/// assert_eq!((selects.statements, selects.failures), (1, 0));
/// assert!(selects.max <= selects.total);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KindCounters {
    /// Statements run.
    pub statements: u64,
    /// Statements that returned an error.
    pub failures: u64,
    /// Time spent in them, summed.
    pub total: Duration,
    /// The longest one.
    pub max: Duration,
}

/// A snapshot of a [`QueryLogger`](super::QueryLogger)'s counters since it was attached.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mut db = demo_db().await?;
/// let logger = audit_core::query_log::QueryLogger::attach(&mut db);
/// ticket::Entity::find().all(&db).await?;
/// assert_eq!(logger.counters().total().statements, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueryCounters {
    kinds: [KindCounters; 5],
    /// Statements at or over the slow-query threshold.
    pub slow: u64,
    /// Statements whose SQL the logger read (for an event or the access log) and could not
    /// understand: every parameter of theirs was withheld, and the access log took them for
    /// reads of every sensitive table.
    pub unreadable: u64,
}

impl QueryCounters {
    /// The counters of one kind.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut db = demo_db().await?;
    /// use audit_core::query_log::{QueryKind, QueryLogger};
    /// let logger = QueryLogger::attach(&mut db);
    /// assert_eq!(logger.counters().kind(QueryKind::Delete).statements, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn kind(&self, kind: QueryKind) -> KindCounters {
        self.kinds[kind.index()]
    }

    /// Every kind with its counters.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut db = demo_db().await?;
    /// let logger = audit_core::query_log::QueryLogger::attach(&mut db);
    /// ticket::Entity::find().all(&db).await?;
    /// let used: Vec<_> = logger.counters().iter().filter(|(_, c)| c.statements > 0).map(|(kind, _)| kind.as_str()).collect();
    /// assert_eq!(used, ["select"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (QueryKind, KindCounters)> + '_ {
        QueryKind::ALL
            .into_iter()
            .map(|kind| (kind, self.kind(kind)))
    }

    /// All kinds together (`max` is the longest of any kind).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut db = demo_db().await?;
    /// let logger = audit_core::query_log::QueryLogger::attach(&mut db);
    /// ticket::Entity::find().all(&db).await?;
    /// ticket::Entity::find_by_id(1).one(&db).await?;
    /// assert_eq!(logger.counters().total().statements, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn total(&self) -> KindCounters {
        self.kinds
            .iter()
            .fold(KindCounters::default(), |sum, k| KindCounters {
                statements: sum.statements + k.statements,
                failures: sum.failures + k.failures,
                total: sum.total + k.total,
                max: sum.max.max(k.max),
            })
    }
}
