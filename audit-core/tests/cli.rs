//! The `audit` binary against real databases (SQLite, and PostgreSQL and MariaDB when
//! their URLs are set): every subcommand's output, snapshotted (one snapshot for every
//! backend, so they must print the same), its exit codes, hostile values, and a trail
//! written by the library itself.

mod support;

use std::process::Command;

use serde_json::{Value as Json, json};
use support::{Fresh, Row, backends, changeset_id, insert};

/// Runs the binary on `fresh` with `args`: (exit code, stdout, stderr).
fn audit(fresh: &Fresh, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_audit"))
        .args(&fresh.args)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("NO_COLOR")
        .output()
        .expect("run audit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    )
}

/// The standard output of a run that must succeed.
fn ok(fresh: &Fresh, args: &[&str]) -> String {
    let (code, stdout, stderr) = audit(fresh, args);
    assert_eq!(code, 0, "audit {args:?} failed: {stderr}");
    stdout
}

const HOSTILE: &str = "\u{1b}[31mred\u{1b}[0m \u{202e}gnp.exe\nline2\u{7}";

fn row<'a>(
    at: &'a str,
    record: &'a str,
    op: &'a str,
    column: &'a str,
    old: Option<Json>,
    new: Option<Json>,
    actor: Option<&'a str>,
) -> Row<'a> {
    Row {
        changed_at: at,
        table: "ticket",
        record,
        operation: op,
        column,
        old,
        new,
        actor,
        context: None,
    }
}

/// Ticket 1: inserted by alice, updated by bob (a hostile title), then by no one (a
/// 10,000-character note). Ticket 2: inserted by alice, deleted by carol.
async fn seed(fresh: &Fresh) {
    let (t1, t2, t3) = (
        "2026-03-01T09:00:00.000001Z",
        "2026-03-01T10:30:00.5Z",
        "2026-03-02T08:00:00Z",
    );
    let (t4, t5) = ("2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z");
    let mut rows = vec![
        row(t1, "1", "insert", "id", None, Some(json!(1)), Some("alice")),
        row(
            t1,
            "1",
            "insert",
            "title",
            None,
            Some(json!("Printer on fire")),
            Some("alice"),
        ),
        row(
            t1,
            "1",
            "insert",
            "status",
            None,
            Some(json!("open")),
            Some("alice"),
        ),
        row(
            t1,
            "1",
            "insert",
            "note",
            None,
            Some(json!(null)),
            Some("alice"),
        ),
        row(
            t1,
            "1",
            "insert",
            "secret",
            None,
            Some(json!(audit_core::REDACTED)),
            Some("alice"),
        ),
        row(t4, "2", "insert", "id", None, Some(json!(2)), Some("alice")),
        row(
            t4,
            "2",
            "insert",
            "title",
            None,
            Some(json!("Paper jam")),
            Some("alice"),
        ),
        row(
            t4,
            "2",
            "insert",
            "status",
            None,
            Some(json!("open")),
            Some("alice"),
        ),
        row(
            t2,
            "1",
            "update",
            "title",
            Some(json!("Printer on fire")),
            Some(json!(HOSTILE)),
            Some("bob"),
        ),
        row(
            t2,
            "1",
            "update",
            "status",
            Some(json!("open")),
            Some(json!("closed")),
            Some("bob"),
        ),
        row(
            t2,
            "1",
            "update",
            "secret",
            Some(json!(audit_core::REDACTED)),
            Some(json!(audit_core::REDACTED)),
            Some("bob"),
        ),
        row(t5, "2", "delete", "id", Some(json!(2)), None, Some("carol")),
        row(
            t5,
            "2",
            "delete",
            "title",
            Some(json!("Paper jam")),
            None,
            Some("carol"),
        ),
        row(
            t5,
            "2",
            "delete",
            "status",
            Some(json!("open")),
            None,
            Some("carol"),
        ),
        row(
            t3,
            "1",
            "update",
            "note",
            Some(json!(null)),
            Some(json!("x".repeat(10_000))),
            None,
        ),
    ];
    for r in rows.iter_mut().take(5) {
        r.context = Some(json!({"request": "r-1"}));
    }
    insert(&fresh.db, &rows).await;
}

fn bob_changeset() -> String {
    changeset_id(
        chrono::DateTime::parse_from_rfc3339("2026-03-01T10:30:00.5Z")
            .unwrap()
            .into(),
        8,
    )
}

#[tokio::test]
async fn every_command_prints_the_same_on_every_backend() {
    for (backend, url) in backends() {
        let fresh = Fresh::new(backend, &url).await;
        seed(&fresh).await;
        let bob = bob_changeset();
        let snap = |name: &str, args: &[&str]| {
            let out = ok(&fresh, args);
            insta::assert_snapshot!(name, out, &format!("audit {}", args.join(" ")));
        };
        snap("history", &["history", "ticket", "1"]);
        snap("history_json", &["--json", "history", "ticket", "2"]);
        snap("feed", &["feed"]);
        snap("feed_actor_bob_json", &["--json", "feed", "--actor", "bob"]);
        snap(
            "feed_filters",
            &[
                "feed", "--table", "ticket", "--key", "2", "--op", "delete", "--column", "title",
            ],
        );
        snap("feed_where", &["feed", "--where", "status=closed"]);
        snap(
            "feed_window",
            &[
                "--ndjson",
                "feed",
                "--since",
                "2026-03-01T10:00:00Z",
                "--until",
                "2026-03-01T11:00:00Z",
            ],
        );
        snap("show", &["show", &bob]);
        snap("show_json", &["--json", "show", &bob]);
        snap(
            "as_of_time",
            &["as-of", "ticket", "1", "2026-03-01T12:00:00Z"],
        );
        snap(
            "as_of_version_json",
            &["--json", "as-of", "ticket", "1", "--version", "1"],
        );
        snap("as_of_deleted", &["as-of", "ticket", "2", "--version", "2"]);
        snap("diff", &["diff", "ticket", "1", "1", "3"]);
        snap("diff_full", &["--full", "diff", "ticket", "1", "2", "3"]);
        snap("export_csv", &["export", "--table", "ticket", "--key", "2"]);
        snap(
            "export_ndjson",
            &["export", "--format", "ndjson", "--actor", "bob"],
        );

        // Keyset pages: the cursor is printed on stderr and the next page follows it.
        let (code, first, stderr) = audit(&fresh, &["feed", "--limit", "4"]);
        assert_eq!(
            (code, stderr.trim()),
            (0, "more: add --before 12"),
            "{backend:?}"
        );
        assert_eq!(first.lines().count(), 5);
        let rest = ok(&fresh, &["--ndjson", "feed", "--before", "12"]);
        let ids: Vec<i64> = rest
            .lines()
            .map(|l| {
                serde_json::from_str::<Json>(l).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert_eq!(ids, (1..=11).rev().collect::<Vec<_>>());
        fresh.cleanup().await;
    }
}

#[tokio::test]
async fn hostile_values_never_reach_the_terminal() {
    for (backend, url) in backends() {
        let fresh = Fresh::new(backend, &url).await;
        seed(&fresh).await;
        for color in ["never", "always"] {
            for args in [
                &["history", "ticket", "1"][..],
                &["feed"],
                &["--full", "feed"],
                &["show", &bob_changeset()],
            ] {
                let out = ok(&fresh, &[&["--color", color], args].concat());
                let text = out.replace("\u{1b}[0m", "").replace("\u{1b}[1m", "");
                let text = ["31", "32", "33"]
                    .iter()
                    .fold(text, |t, c| t.replace(&format!("\u{1b}[{c}m"), ""));
                assert!(
                    !text.contains('\u{1b}'),
                    "{backend:?} {args:?}: raw escape in {out:?}"
                );
                assert!(
                    !out.contains('\u{202e}') && !out.contains('\u{7}'),
                    "{backend:?} {args:?}"
                );
                assert!(
                    out.contains("\\u{202e}gnp.exe"),
                    "{backend:?} {args:?}: shown escaped"
                );
                assert!(out.lines().count() > 2);
                if color == "always" {
                    assert!(
                        out.contains("\u{1b}[1m"),
                        "{backend:?}: --color always colours"
                    );
                }
            }
        }
        for mode in ["--json", "--ndjson"] {
            let out = ok(&fresh, &[mode, "feed"]);
            assert!(
                !out.contains('\u{202e}') && !out.contains('\u{1b}'),
                "{backend:?} {mode}"
            );
            let docs = if mode == "--json" {
                vec![out.as_str()]
            } else {
                out.lines().collect()
            };
            let parsed: Vec<Json> = docs
                .iter()
                .map(|d| serde_json::from_str(d).unwrap())
                .collect();
            assert!(
                Json::from(parsed).to_string().contains('\u{202e}'),
                "{backend:?} {mode}: same value"
            );
        }
        let feed = ok(&fresh, &["feed"]);
        assert!(
            feed.lines().all(|l| l.chars().count() < 400),
            "{backend:?}: cut"
        );
        assert!(
            feed.contains("…(+9942 bytes)"),
            "{backend:?}: the cut is said"
        );
        let full = ok(&fresh, &["--full", "feed"]);
        assert!(full.contains(&"x".repeat(10_000)));
        fresh.cleanup().await;
    }
}

#[tokio::test]
async fn exit_codes_a_script_can_rely_on() {
    for (backend, url) in backends() {
        let fresh = Fresh::new(backend, &url).await;
        seed(&fresh).await;
        let code = |args: &[&str]| {
            let (code, stdout, stderr) = audit(&fresh, args);
            if code != 0 {
                assert!(stdout.is_empty(), "{args:?}: nothing on stdout on failure");
                assert!(!stderr.is_empty(), "{args:?}: the reason on stderr");
            }
            code
        };
        assert_eq!(code(&["history", "ticket", "1"]), 0);
        assert_eq!(
            code(&["feed", "--actor", "nobody"]),
            0,
            "an empty page is a success"
        );
        assert_eq!(code(&["history", "ticket", "99"]), 3);
        assert_eq!(code(&["as-of", "ticket", "1", "--version", "4"]), 3);
        assert_eq!(code(&["diff", "ticket", "1", "1", "9"]), 3);
        assert_eq!(code(&["show", "0190d4c8-0000-7000-8000-000000000000"]), 3);
        assert_eq!(code(&["feed", "--since", "yesterday"]), 2);
        assert_eq!(code(&["feed", "--op", "upsert"]), 2);
        assert_eq!(code(&["feed", "--where", "no-equals-sign"]), 2);
        assert_eq!(code(&["feed", "--column", "a", "--where", "b=1"]), 2);
        assert_eq!(
            code(&["as-of", "ticket", "1"]),
            2,
            "a time or --version is required"
        );
        assert_eq!(code(&["--audit-table", "no such", "feed"]), 2);
        assert_eq!(code(&["--audit-table", "missing_table", "feed"]), 1);
        fresh.cleanup().await;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_audit"))
        .arg("feed")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
    let secret = "postgres://user:hunter2@127.0.0.1:1/none";
    let out = Command::new(env!("CARGO_BIN_EXE_audit"))
        .args(["--url", secret, "feed"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("hunter2"),
        "no password in errors"
    );
}

/// A trail written by the library's own write path reads back the same through the binary.
mod ticket {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "ticket")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub status: String,
        #[audit(redact)]
        pub secret: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

#[tokio::test]
async fn reads_a_trail_the_library_wrote() {
    use sea_orm::ActiveValue::Set;
    use sea_orm::{ActiveModelTrait, ConnectionTrait, Schema};
    for (backend, url) in backends() {
        let fresh = Fresh::new(backend, &url).await;
        let db = &fresh.db;
        db.execute(&Schema::new(backend).create_table_from_entity(ticket::Entity))
            .await
            .unwrap();
        let t = ticket::ActiveModel {
            status: Set("open".into()),
            secret: Set("s".into()),
            ..Default::default()
        };
        let t = audit_core::with_actor("ann", t.insert(db)).await.unwrap();
        let mut am: ticket::ActiveModel = t.into();
        am.status = Set("done".into());
        audit_core::with_actor("ben", am.update(db)).await.unwrap();

        let history: Json =
            serde_json::from_str(&ok(&fresh, &["--json", "history", "ticket", "1"])).unwrap();
        let versions = history["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[1]["actor"], "ben");
        assert_eq!(
            versions[1]["changes"],
            json!([{"column": "status", "old_value": "open", "new_value": "done"}])
        );
        let v1: Json = serde_json::from_str(&ok(
            &fresh,
            &["--json", "as-of", "ticket", "1", "--version", "1"],
        ))
        .unwrap();
        assert_eq!(
            v1["columns"],
            json!({"id": 1, "status": "open", "secret": audit_core::REDACTED})
        );
        let cs = versions[1]["changeset_id"].as_str().unwrap();
        let shown: Json = serde_json::from_str(&ok(&fresh, &["--json", "show", cs])).unwrap();
        assert_eq!(shown["rows"].as_array().unwrap().len(), 1);
        let csv = ok(&fresh, &["export", "--actor", "ann"]);
        assert_eq!(
            csv.lines().count(),
            4,
            "{backend:?}: header and three columns"
        );
        fresh.cleanup().await;
    }
}
