//! The round trip every fidelity test makes: states written through the audited write
//! path, checked as stored, rebuilt from the trail (by time, by version), reverted and
//! restored, each compared exactly with what the database held.
#![allow(dead_code)]

use std::time::Duration;

use audit_core::{AuditedEntity, KeyOf, OnConflict};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, DatabaseConnection, EntityTrait, IdenStatic,
    IntoActiveModel, Iterable, ModelTrait, TryIntoModel,
};

/// Every column of `model` set, for an insert or a full update.
pub fn all_set<E: EntityTrait>(model: E::Model) -> E::ActiveModel
where
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    let mut am = model.into_active_model();
    for column in E::Column::iter() {
        if let Some(value) = am.get(column).into_value() {
            am.set(column, value);
        }
    }
    am
}

/// Compares column by column, by value and, when `exact`, by `Debug` text too (which
/// shows what `==` ignores: a timestamp's offset, a decimal's scale, the sign of a zero).
/// A 1 MiB string in a failed `assert_eq!` is unreadable, so values are cut short.
pub fn assert_same<M: ModelTrait>(actual: &M, expected: &M, exact: bool, what: &str) {
    for column in <M::Entity as EntityTrait>::Column::iter() {
        let (a, e) = (actual.get(column), expected.get(column));
        let (da, de) = (format!("{a:?}"), format!("{e:?}"));
        if a != e || (exact && da != de) {
            let cut = |s: &str| s.chars().take(160).collect::<String>();
            panic!(
                "{what}: `{}` differs: {} != {}",
                column.as_str(),
                cut(&da),
                cut(&de)
            );
        }
    }
}

/// An instant after every write so far and before any later one.
pub async fn tick() -> DateTime<Utc> {
    tokio::time::sleep(Duration::from_millis(3)).await;
    let at = Utc::now();
    tokio::time::sleep(Duration::from_millis(3)).await;
    at
}

/// Writes `states` in turn to the record `key` of `E` (insert, then updates), checks the
/// database stores each (by `==`), rebuilds each from the trail (by time and by version),
/// reverts the last update, deletes the record and restores it: every model the trail
/// gives back must be identical (`==` and `Debug`) to the one the database held.
/// `states` needs at least two entries, the last two different.
pub async fn round_trip<E>(db: &DatabaseConnection, key: KeyOf<E>, states: &[E::Model], what: &str)
where
    E: AuditedEntity,
    KeyOf<E>: Clone,
    E::Model: Clone + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelBehavior + Send + TryIntoModel<E::Model>,
{
    let find = || E::find_by_id(key.clone()).one(db);
    let mut stored = Vec::new();
    let mut times = Vec::new();
    for (step, state) in states.iter().enumerate() {
        let am = all_set::<E>(state.clone());
        let model = if step == 0 {
            am.insert(db).await
        } else {
            am.update(db).await
        };
        let model = model.unwrap_or_else(|e| panic!("{what} step {step}: {e}"));
        let read = find().await.unwrap().unwrap();
        let as_stored = format!("{what} step {step}: the database stores it");
        assert_same(&read, state, false, &as_stored);
        assert_same(
            &model,
            &read,
            true,
            &format!("{what} step {step}: as returned"),
        );
        stored.push(read);
        times.push(tick().await);
    }

    for (step, (at, expected)) in times.iter().zip(&stored).enumerate() {
        let rebuilt = audit_core::as_of::<E>(db, key.clone(), *at).await.unwrap();
        let rebuilt = rebuilt.unwrap_or_else(|| panic!("{what} as_of step {step}: none"));
        assert_same(
            &rebuilt,
            expected,
            true,
            &format!("{what} as_of step {step}"),
        );
        let number = u32::try_from(step + 1).unwrap();
        let by_version = audit_core::at_version::<E>(db, key.clone(), number)
            .await
            .unwrap()
            .unwrap();
        assert_same(
            &by_version,
            expected,
            true,
            &format!("{what} version {number}"),
        );
    }

    // Undo the last update: the record is back in the state before it.
    let versions = audit_core::versions::<E>(db, key.clone()).await.unwrap();
    assert_eq!(versions.len(), states.len(), "{what}: one version a write");
    let last = &versions.last().unwrap().changeset_id;
    let reverted = audit_core::revert::<E>(db, key.clone(), last, OnConflict::Refuse)
        .await
        .unwrap_or_else(|e| panic!("{what} revert: {e}"))
        .unwrap();
    let before_last = &stored[stored.len() - 2];
    let read = find().await.unwrap().unwrap();
    assert_same(&read, before_last, true, &format!("{what} revert: stored"));
    assert_same(&reverted, &read, true, &format!("{what} revert: returned"));

    read.clone().delete(db).await.unwrap();
    let after_delete = tick().await;
    let gone = audit_core::as_of::<E>(db, key.clone(), after_delete)
        .await
        .unwrap();
    assert!(gone.is_none(), "{what}: deleted");
    let restored = audit_core::restore::<E>(db, key.clone())
        .await
        .unwrap_or_else(|e| panic!("{what} restore: {e}"));
    assert_same(&restored, &read, true, &format!("{what} restore"));
    let read = find().await.unwrap().unwrap();
    assert_same(&read, before_last, true, &format!("{what} restore: stored"));
}
