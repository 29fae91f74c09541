//! Actor and context: scoped, task-local, never mixed between tasks, never outliving their
//! scope, on any executor. (The global provider is tested in `config.rs`, with the
//! other process-wide settings.)

mod common;

use std::time::Duration;

use common::{Backend, audit_rows, new_account, setup};
use sea_orm::ActiveModelTrait;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_scopes_never_mix_and_end_with_their_future() {
    let Some(fresh) = setup(Backend::Sqlite, 4).await else {
        return;
    };
    let db = fresh.db.clone();
    let tasks = (0..16).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            let context = audit_core::AuditContext::new()
                .actor(format!("user-{i}"))
                .request_id(format!("req-{i}"));
            context
                .scope(async {
                    for step in 0..5 {
                        // Cross await points and, on this runtime, threads.
                        tokio::time::sleep(Duration::from_millis((i * 7 + step) % 5)).await;
                        assert_eq!(audit_core::current_actor(), Some(format!("user-{i}")));
                    }
                    new_account(&format!("owner-{i}"), i as i64)
                        .insert(&db)
                        .await
                        .unwrap();
                })
                .await;
            audit_core::current_actor()
        })
    });
    for task in tasks.collect::<Vec<_>>() {
        assert_eq!(task.await.unwrap(), None, "the actor ended with its scope");
    }
    for row in audit_rows(&fresh.db).await.unwrap() {
        let i = row
            .actor
            .as_deref()
            .unwrap()
            .trim_start_matches("user-")
            .to_owned();
        assert_eq!(
            row.context,
            Some(json!({ "request_id": format!("req-{i}") }))
        );
        if row.column_name == "owner" {
            assert_eq!(
                row.new_value,
                Some(json!(format!("owner-{i}"))),
                "row carries its own task's actor"
            );
        }
    }
}

#[tokio::test]
async fn nested_scopes_merge_and_restore() {
    let outer = audit_core::AuditContext::new()
        .actor("alice")
        .request_id("r1");
    outer
        .scope(async {
            audit_core::AuditContext::new()
                .actor("bob")
                .reason("on behalf")
                .scope(async {
                    let inner = audit_core::current_context();
                    assert_eq!(inner.actor_name(), Some("bob"));
                    assert_eq!(
                        serde_json::Value::Object(inner.metadata().clone()),
                        json!({"request_id": "r1", "reason": "on behalf"})
                    );
                })
                .await;
            assert_eq!(audit_core::current_actor().as_deref(), Some("alice"));
        })
        .await;
    assert_eq!(audit_core::current_actor(), None);
}

#[test]
fn scopes_work_on_any_executor() {
    let actor = futures::executor::block_on(audit_core::with_actor("carol", async {
        futures::future::ready(()).await;
        audit_core::current_actor()
    }));
    assert_eq!(actor.as_deref(), Some("carol"));
}

#[tokio::test]
async fn panicking_scope_does_not_leak_its_actor() {
    let handle = tokio::spawn(audit_core::with_actor("mallory", async {
        assert_eq!(audit_core::current_actor().as_deref(), Some("mallory"));
        panic!("boom inside the scope");
    }));
    assert!(handle.await.unwrap_err().is_panic());
    let caught = std::panic::catch_unwind(|| {
        futures::executor::block_on(audit_core::with_actor("mallory", async { panic!("boom") }))
    });
    assert!(caught.is_err());
    assert_eq!(
        audit_core::current_actor(),
        None,
        "no actor after the panic"
    );
}
