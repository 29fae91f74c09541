//! The audit table's ids and leaf hashes in id order, read a page at a time for
//! `verify`: while one page is hashed on tokio's blocking pool, the next is read from the
//! database, so reading and hashing overlap. At most two pages of rows are held (one
//! read, one being hashed) besides the leaves of the page being consumed.

use std::collections::VecDeque;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult};
use tokio::task::JoinHandle;

use super::IntegrityError;
use super::merkle::Hash;
use super::rows;

/// Rows read per query.
const PAGE_ROWS: u64 = 8_192;

/// A page's ids and leaf hashes.
type Hashed = Result<Vec<(i64, Hash)>, IntegrityError>;

/// A page read ahead: being hashed, or hashed (or failed) already.
enum Page {
    Hashing(JoinHandle<Hashed>),
    Ready(Hashed),
}

impl Page {
    /// Hashes `rows` on the blocking pool inside a tokio runtime, here outside one.
    fn hash(backend: DbBackend, rows: Vec<QueryResult>) -> Page {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                Page::Hashing(runtime.spawn_blocking(move || rows::leaves(backend, &rows)))
            }
            Err(_) => Page::Ready(rows::leaves(backend, &rows)),
        }
    }

    /// The page's leaves, once hashed.
    async fn wait(self) -> Hashed {
        match self {
            Page::Ready(hashed) => hashed,
            Page::Hashing(task) => match task.await {
                Ok(hashed) => hashed,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(DbErr::Custom(format!("hashing audit rows: {e}")).into()),
            },
        }
    }
}

/// The leaves of the rows after an id, in id order.
pub(crate) struct Leaves {
    table: String,
    /// The last id read.
    cursor: i64,
    /// Whether the last page read was the table's last.
    done: bool,
    /// The page after the current one, once read.
    ahead: Option<Page>,
    /// The current page's leaves not taken yet.
    buffer: VecDeque<(i64, Hash)>,
}

impl Leaves {
    /// The leaves of the rows of audit table `table` with `id > after`.
    pub fn after(table: &str, after: i64) -> Leaves {
        Leaves {
            table: table.to_owned(),
            cursor: after,
            done: false,
            ahead: None,
            buffer: VecDeque::new(),
        }
    }

    /// The next row's id and leaf hash, if any, without taking it. A page that failed to
    /// read or hash fails here, when it is reached.
    pub async fn peek<C: ConnectionTrait>(
        &mut self,
        db: &C,
    ) -> Result<Option<&(i64, Hash)>, IntegrityError> {
        if self.buffer.is_empty() {
            if self.ahead.is_none() {
                self.read_ahead(db).await;
            }
            if let Some(page) = self.ahead.take() {
                // The next page is read while this one is hashed.
                self.read_ahead(db).await;
                self.buffer.extend(page.wait().await?);
            }
        }
        Ok(self.buffer.front())
    }

    /// Takes the next row's id and leaf hash (after a [`Leaves::peek`] that found it).
    pub fn pop(&mut self) -> Option<(i64, Hash)> {
        self.buffer.pop_front()
    }

    /// Reads the next page, if any, into `ahead` and starts hashing it.
    async fn read_ahead<C: ConnectionTrait>(&mut self, db: &C) {
        if self.done {
            return;
        }
        let read = rows::page_after(db, &self.table, self.cursor, PAGE_ROWS)
            .await
            .and_then(|page| Ok((page.last().map(rows::page_id).transpose()?, page)));
        self.ahead = Some(match read {
            Ok((last, page)) => {
                self.done = (page.len() as u64) < PAGE_ROWS;
                self.cursor = last.unwrap_or(self.cursor);
                Page::hash(db.get_database_backend(), page)
            }
            Err(e) => {
                self.done = true;
                Page::Ready(Err(e))
            }
        });
    }
}
