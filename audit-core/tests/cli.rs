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
    audit_env(fresh, args, &[])
}

/// [`audit`] with these environment variables set.
fn audit_env(fresh: &Fresh, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_audit"))
        .args(&fresh.args)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("NO_COLOR")
        .env_remove("AUDIT_KEK")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn json_of(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A fresh digest file's path (removed first).
fn digest_file(fresh: &Fresh) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "audit-cli-digests-{}-{}.jsonl",
        std::process::id(),
        fresh.args.join("").len() + fresh.args.last().map_or(0, |a| a.len() * 7) + rand_ish()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

fn rand_ish() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed) * 1_000_003
}

#[tokio::test]
async fn verify_and_prove_a_sealed_trail_then_name_the_tampered_row() {
    use audit_core::integrity::{self, FileSink, Sealer, SigningKey};
    use sea_orm::ConnectionTrait;
    for (backend, url) in backends() {
        let fresh = Fresh::new(backend, &url).await;
        seed(&fresh).await;
        integrity::install(&fresh.db).await.unwrap();
        let digests = digest_file(&fresh);
        let key = SigningKey::from_bytes(&[7; 32]);
        let sealed = Sealer::new(key.clone())
            .with_sink(FileSink::new(&digests))
            .seal(&fresh.db)
            .await
            .unwrap();
        assert_eq!(sealed.len(), 1, "{backend:?}");
        let public = hex(&key.verifying_key().to_bytes());
        let file = digests.to_str().unwrap();
        let code = |args: &[&str]| audit(&fresh, args).0;

        // Intact: exit 0 and a summary, for people and programs.
        let out = ok(
            &fresh,
            &["verify", "--public-key", &public, "--digest", file],
        );
        assert!(
            out.starts_with("intact: 1 blocks, 15 rows verified (log of 15 rows); 0 rows"),
            "{backend:?}: {out}"
        );
        assert!(out.contains("checked against 1 signed digests (newest: block 0, 15 rows)"));
        let v = json_of(&ok(
            &fresh,
            &[
                "--json",
                "verify",
                "--public-key",
                &public,
                "--digest",
                file,
            ],
        ));
        assert_eq!(
            (&v["result"], &v["blocks"], &v["rows"], &v["unsealed"]),
            (&json!("intact"), &json!(1), &json!(15), &json!(0)),
            "{backend:?}"
        );
        assert_eq!(v["last_block"]["tree_size"], 15);
        // The key from a file; no digest: the chain alone, with a warning.
        let key_file = digests.with_extension("pub");
        std::fs::write(&key_file, format!("{public}\n")).unwrap();
        let (c, _, stderr) = audit(
            &fresh,
            &["verify", "--public-key", key_file.to_str().unwrap()],
        );
        assert_eq!(c, 0, "{backend:?}: {stderr}");
        assert!(stderr.contains("no signed digest"), "{stderr}");
        // Another key: the digest does not verify (4); a malformed key is bad usage (2).
        let stranger = hex(&SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes());
        assert_eq!(
            code(&["verify", "--public-key", &stranger, "--digest", file]),
            4
        );
        assert_eq!(code(&["verify", "--public-key", "zz", "--digest", file]), 2);
        assert_eq!(
            code(&[
                "verify",
                "--public-key",
                &public,
                "--digest",
                "/nonexistent/d"
            ]),
            2
        );

        // An inclusion proof, checked.
        let out = ok(
            &fresh,
            &["prove", "3", "--public-key", &public, "--digest", file],
        );
        assert!(
            out.starts_with("row 3 is leaf 2 of the log of 15 rows"),
            "{out}"
        );
        assert!(
            out.trim_end()
                .ends_with("valid: the row as stored is in the log the digest signs")
        );
        let p = json_of(&ok(
            &fresh,
            &[
                "--json",
                "prove",
                "3",
                "--public-key",
                &public,
                "--digest",
                file,
            ],
        ));
        assert_eq!(
            (&p["valid"], &p["proof"]["leaf_index"]),
            (&json!(true), &json!(2))
        );
        assert_eq!(p["row"]["column"], "status");
        assert_eq!(p["digest"]["tree_size"], 15);
        assert!(p["proof"]["hashes"].as_array().unwrap().len() <= 4);
        assert_eq!(
            code(&["prove", "999", "--public-key", &public, "--digest", file]),
            3,
            "no such row"
        );
        // A row written after the seal is not under the digest.
        insert(
            &fresh.db,
            &[row(
                "2026-03-03T00:00:00Z",
                "3",
                "insert",
                "id",
                None,
                Some(json!(3)),
                None,
            )],
        )
        .await;
        assert_eq!(
            code(&["prove", "16", "--public-key", &public, "--digest", file]),
            3,
            "{backend:?}: not sealed"
        );
        let v = json_of(&ok(
            &fresh,
            &[
                "--json",
                "verify",
                "--public-key",
                &public,
                "--digest",
                file,
            ],
        ));
        assert_eq!(v["unsealed"], 1, "{backend:?}");

        // Someone with the database's credentials rewrites row 5.
        fresh
            .db
            .execute_unprepared("UPDATE audit_log SET actor = 'mallory' WHERE id = 5")
            .await
            .unwrap();
        let (c, stdout, stderr) = audit(
            &fresh,
            &["verify", "--public-key", &public, "--digest", file],
        );
        assert_eq!(c, 4, "{backend:?}: {stdout} {stderr}");
        assert_eq!(stdout, "TAMPERED: row 5 (block 0) was edited\n");
        assert!(stderr.contains("row 5 (block 0) was edited"), "{stderr}");
        let (c, stdout, _) = audit(
            &fresh,
            &[
                "--json",
                "verify",
                "--public-key",
                &public,
                "--digest",
                file,
            ],
        );
        assert_eq!(c, 4);
        let v = json_of(&stdout);
        assert_eq!(v["result"], "tampered");
        assert_eq!(
            (
                &v["first_bad"]["kind"],
                &v["first_bad"]["row"],
                &v["first_bad"]["block"]
            ),
            (&json!("edited_row"), &json!(5), &json!(0))
        );
        // Even without the digest the edit shows.
        assert_eq!(code(&["verify", "--public-key", &public]), 4);
        // The edited row's proof no longer checks; another row's still does.
        let (c, stdout, _) = audit(
            &fresh,
            &[
                "--json",
                "prove",
                "5",
                "--public-key",
                &public,
                "--digest",
                file,
            ],
        );
        assert_eq!(c, 4, "{backend:?}");
        assert_eq!(json_of(&stdout)["valid"], false);
        assert_eq!(
            code(&["prove", "3", "--public-key", &public, "--digest", file]),
            0
        );
        let _ = std::fs::remove_file(&digests);
        let _ = std::fs::remove_file(&key_file);
        fresh.cleanup().await;
    }
}

/// A `person` whose `email` is personal data (subject kind `user`), as in the library's
/// erasure examples.
mod person {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "person")]
    #[audit(subject_kind = "user")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        #[audit(personal)]
        pub email: String,
        pub plan: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

#[tokio::test]
async fn erase_shreds_a_subject_and_the_trail_still_verifies() {
    use std::sync::Arc;

    use audit_core::erasure::{ERASED, LocalKek, with_key_encryption_key};
    use audit_core::integrity::{self, FileSink, Sealer, SigningKey};
    use sea_orm::ActiveValue::Set;
    use sea_orm::{ActiveModelTrait, ConnectionTrait, Schema};
    let kek_hex = "07".repeat(32);
    for (backend, url) in backends() {
        let fresh = Fresh::new(backend, &url).await;
        let db = &fresh.db;
        db.execute(&Schema::new(backend).create_table_from_entity(person::Entity))
            .await
            .unwrap();
        let kek = Arc::new(LocalKek::new([7; 32]));
        for (id, email) in [(1, "ann@example.com"), (2, "bo@example.com")] {
            let p = person::ActiveModel {
                id: Set(id),
                email: Set(email.into()),
                plan: Set("free".into()),
            };
            with_key_encryption_key(kek.clone(), p.insert(db))
                .await
                .unwrap();
        }
        integrity::install(db).await.unwrap();
        let digests = digest_file(&fresh);
        let key = SigningKey::from_bytes(&[7; 32]);
        Sealer::new(key.clone())
            .with_sink(FileSink::new(&digests))
            .seal(db)
            .await
            .unwrap();

        // Before: sealed, never in clear.
        let before = ok(&fresh, &["history", "person", "1"]);
        assert!(before.contains("[sealed]"), "{backend:?}: {before}");
        assert!(!before.contains("ann@example.com") && !before.contains(ERASED));

        // No confirmation (no terminal, no --yes), or another key-encryption key: refused.
        let (c, stdout, stderr) =
            audit_env(&fresh, &["erase", "user", "1"], &[("AUDIT_KEK", &kek_hex)]);
        assert_eq!((c, stdout.as_str()), (2, ""), "{stderr}");
        assert!(stderr.contains("--yes"), "{stderr}");
        let other = "08".repeat(32);
        let (c, _, stderr) = audit(
            &fresh,
            &["erase", "user", "1", "--kek-hex", &other, "--yes"],
        );
        assert_eq!(c, 2, "{backend:?}: {stderr}");
        assert!(!stderr.contains(&other), "the key is never echoed");
        assert_eq!(
            audit(&fresh, &["erase", "user", "1", "--yes"]).0,
            2,
            "no key"
        );
        assert!(!ok(&fresh, &["history", "person", "1"]).contains(ERASED));

        // Erase person 1, the key from the environment.
        let (c, stdout, stderr) = audit_env(
            &fresh,
            &["erase", "user", "1", "--yes", "--actor", "dpo"],
            &[("AUDIT_KEK", &kek_hex)],
        );
        assert_eq!(c, 0, "{backend:?}: {stderr}");
        assert!(stdout.starts_with("erased: the data key "), "{stdout}");
        assert!(stdout.contains("[erased]"));
        for text in [&stdout, &stderr] {
            assert!(!text.contains(&kek_hex), "the key is never printed");
            assert!(!text.contains("ann@example.com"));
        }
        let history = json_of(&ok(&fresh, &["--json", "history", "person", "1"]));
        let changes = &history["versions"][0]["changes"];
        let column = |name: &str| {
            changes
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["column"] == name)
                .unwrap_or_else(|| panic!("{name} in {changes}"))["new_value"]
                .clone()
        };
        assert_eq!(column("email"), json!(ERASED), "{backend:?}");
        assert_eq!(column("plan"), json!("free"), "not personal: untouched");
        assert!(ok(&fresh, &["history", "person", "1"]).contains("\"[erased]\""));
        // Person 2 is untouched: still sealed, and it opens through the library.
        let two = ok(&fresh, &["history", "person", "2"]);
        assert!(two.contains("[sealed]") && !two.contains(ERASED), "{two}");
        let read = with_key_encryption_key(
            kek.clone(),
            audit_core::history::<person::Entity>(2)
                .column(person::Column::Email)
                .fetch(db),
        )
        .await
        .unwrap();
        assert_eq!(read[0].new_value, Some("bo@example.com".into()));
        let read = with_key_encryption_key(
            kek.clone(),
            audit_core::history::<person::Entity>(1)
                .column(person::Column::Email)
                .fetch(db),
        )
        .await
        .unwrap();
        assert_eq!(read[0].new_value, Some(ERASED.into()), "the library agrees");

        // Person 2 with the key from a file, for programs.
        let kek_file = digests.with_extension("kek");
        std::fs::write(&kek_file, format!("{kek_hex}\n")).unwrap();
        let out = json_of(&ok(
            &fresh,
            &[
                "--json",
                "erase",
                "user",
                "2",
                "--yes",
                "--kek-file",
                kek_file.to_str().unwrap(),
            ],
        ));
        assert_eq!(
            (&out["kind"], &out["destroyed"]),
            (&json!("user"), &json!(true))
        );
        assert_eq!(out["key_id"].as_str().map(str::len), Some(64));
        assert!(ok(&fresh, &["history", "person", "2"]).contains(ERASED));
        // Twice: nothing left to destroy, still a success.
        let again = json_of(&ok(
            &fresh,
            &[
                "--json",
                "erase",
                "user",
                "2",
                "--yes",
                "--kek-file",
                kek_file.to_str().unwrap(),
            ],
        ));
        assert_eq!(again["destroyed"], false);

        // The erasures are in the trail, by their actor; the sealed rows never changed.
        let feed = json_of(&ok(
            &fresh,
            &[
                "--json",
                "feed",
                "--table",
                audit_core::erasure::ERASURE_LABEL,
            ],
        ));
        let entries = feed["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 3, "{backend:?}");
        assert!(entries.iter().any(|e| e["actor"] == "dpo"));
        let public = hex(&key.verifying_key().to_bytes());
        let v = json_of(&ok(
            &fresh,
            &[
                "--json",
                "verify",
                "--public-key",
                &public,
                "--digest",
                digests.to_str().unwrap(),
            ],
        ));
        assert_eq!(
            (&v["result"], &v["unsealed"]),
            (&json!("intact"), &json!(3))
        );
        let _ = std::fs::remove_file(&digests);
        let _ = std::fs::remove_file(&kek_file);
        fresh.cleanup().await;
    }
}
