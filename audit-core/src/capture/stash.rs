//! Old rows between the `before_*` and `after_*` hooks of one write on a connection the
//! library does not wrap (a `DatabaseConnection` pool, a plain `DatabaseTransaction`).
//!
//! SeaORM's hooks hand nothing from the first hook to the second but the connection, so
//! a write is told apart by the connection, the polling task's waker (which works on any
//! executor, and separates the futures of a `FuturesUnordered`), the entity and the
//! record. Pairing is checked, never guessed: when two writes of one record overlap on
//! the same connection and waker (`join!`) and their old rows cannot be told apart, the
//! later hook returns an error instead of recording a wrong old value. Inside
//! [`crate::transaction`] none of this is used: the write's state lives in the
//! transaction.
//!
//! Memory stays bounded: one record keeps at most two entries (a failed write's entry is
//! replaced by the next write of the record), and the whole stash at most
//! [`MAX_ENTRIES`]; past that the oldest entries go, and a write whose entry went fails
//! with an error rather than recording a wrong old state.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::time::Instant;

use sea_orm::{EntityTrait, Iterable, ModelTrait, Value};

use crate::entity::AuditedEntity;
use crate::erasure::KeyHints;

/// At most this many records' entries are kept at once.
pub const MAX_ENTRIES: usize = 4_096;

/// Connection, waker (data and vtable), entity, record id, and whether the write is a
/// delete (so a failed update's entry never meets a later delete's).
type Identity = (usize, usize, usize, TypeId, String, bool);

/// One write's old row (`None` where the record did not exist), with its column values
/// to compare it with other entries of the same record.
struct Entry {
    at: Instant,
    old: Option<Box<dyn Any + Send>>,
    values: Option<Vec<Value>>,
    keys: KeyHints,
}

static STASH: Mutex<Option<HashMap<Identity, Vec<Entry>>>> = Mutex::new(None);

/// Why an `after_*` hook has no old row.
pub(crate) enum Missing {
    /// No `before_*` hook stashed one (or it was evicted).
    NotCaptured,
    /// Two overlapping writes of the record left entries that cannot be told apart.
    Ambiguous,
}

/// Every column value of `model`, to compare rows.
pub(crate) fn values<E: EntityTrait>(model: &E::Model) -> Vec<Value> {
    E::Column::iter().map(|c| model.get(c)).collect()
}

/// The waker of the task polling this future, as two words.
async fn waker_identity() -> (usize, usize) {
    std::future::poll_fn(|cx| {
        let waker = cx.waker();
        Poll::Ready((
            waker.data() as usize,
            std::ptr::from_ref(waker.vtable()) as usize,
        ))
    })
    .await
}

async fn identity<E: 'static, C>(db: &C, record_id: String, delete: bool) -> Identity {
    let (data, vtable) = waker_identity().await;
    (
        std::ptr::from_ref(db) as usize,
        data,
        vtable,
        TypeId::of::<E>(),
        record_id,
        delete,
    )
}

fn with_stash<T>(f: impl FnOnce(&mut HashMap<Identity, Vec<Entry>>) -> T) -> T {
    let mut guard = STASH.lock().unwrap_or_else(PoisonError::into_inner);
    f(guard.get_or_insert_with(HashMap::new))
}

/// Stashes the old row `old` of a write (a delete when `delete`) of `record_id` through
/// `db`, with the keys read ahead with it.
pub(crate) async fn put<E: AuditedEntity, C>(
    db: &C,
    record_id: String,
    delete: bool,
    old: Option<E::Model>,
    keys: KeyHints,
) {
    let key = identity::<E, C>(db, record_id, delete).await;
    let values = old.as_ref().map(values::<E>);
    let entry = Entry {
        at: Instant::now(),
        old: old.map(|m| Box::new(m) as Box<dyn Any + Send>),
        values,
        keys,
    };
    with_stash(|stash| {
        if !stash.contains_key(&key) && stash.len() >= MAX_ENTRIES {
            evict_oldest(stash);
        }
        let entries = stash.entry(key).or_default();
        // The same old row as the last entry: that write failed, or has not run yet;
        // either way its entry and this one are interchangeable.
        if entries
            .last()
            .is_some_and(|last| last.values == entry.values)
        {
            entries.pop();
        }
        entries.push(entry);
        if entries.len() > 2 {
            entries.remove(0);
        }
    });
}

/// Takes the old row of the write of `record_id` through `db` whose new row is `new`
/// (`None` for a delete), with its keys. `None`: the record did not exist before the write.
pub(crate) async fn take<E: AuditedEntity, C>(
    db: &C,
    record_id: String,
    new: Option<&E::Model>,
) -> Result<(Option<E::Model>, KeyHints), Missing> {
    let key = identity::<E, C>(db, record_id, new.is_none()).await;
    let new_values = new.map(values::<E>);
    let entry = with_stash(|stash| {
        let entries = stash.get_mut(&key).ok_or(Missing::NotCaptured)?;
        let entry = match entries.len() {
            1 => entries.pop(),
            // The later entry was read after this write changed the row (it holds this
            // write's new state), so the earlier one is this write's.
            _ if new_values.is_some() && entries[1].values == new_values => Some(entries.remove(0)),
            _ => {
                stash.remove(&key);
                return Err(Missing::Ambiguous);
            }
        };
        if entries.is_empty() {
            stash.remove(&key);
        }
        entry.ok_or(Missing::NotCaptured)
    })?;
    let old = entry
        .old
        .and_then(|old| old.downcast::<E::Model>().ok())
        .map(|b| *b);
    Ok((old, entry.keys))
}

/// Drops the older half of the stash.
fn evict_oldest(stash: &mut HashMap<Identity, Vec<Entry>>) {
    let mut ages: Vec<Instant> = stash
        .values()
        .filter_map(|entries| entries.last().map(|e| e.at))
        .collect();
    ages.sort_unstable();
    let cutoff = ages[ages.len() / 2];
    stash.retain(|_, entries| entries.last().is_some_and(|e| e.at > cutoff));
}

/// How many records have stashed entries (for tests of the bound).
#[doc(hidden)]
pub fn stashed_records() -> usize {
    with_stash(|stash| stash.len())
}
