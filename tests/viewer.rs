//! The web viewer (`audit_core::viewer`) on every backend, called in-process through its
//! router: authorization before anything, escaped hostile values, keyset pages, at most
//! 3 SQL statements a page (counted by the query logger), table limits, export, and
//! reverts behind a confirmation and a CSRF token.

mod common;

use audit_core::query_log::QueryLogger;
use audit_core::viewer::{Access, CONTENT_SECURITY_POLICY, Viewer};
use axum::Router;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{Request, StatusCode, header};
use common::{Backend, FreshDb, account, create_table, new_account, setup};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait};
use tower::ServiceExt;

mod ledger {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "ledger")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub memo: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Values that would break a page that did not escape them.
const HOSTILE: &[&str] = &[
    "<script>alert('xss')</script>",
    "\"><img src=x onerror=alert(1)>",
    "' onmouseover='alert(1)",
    "</td></tr></table><h1>forged</h1>",
    "\u{202e}txt.exe\u{202c} rtl override",
    "&lt;already escaped&gt; &amp;",
    "javascript:alert(1)",
];

/// The application's hook in these tests: who the `x-user` header says.
fn hook(parts: &Parts) -> Option<Access> {
    match parts.headers.get("x-user")?.to_str().ok()? {
        "alice" => Some(Access::all("alice")),
        "support" => Some(Access::tables("support", ["ledger"])),
        "admin" => Some(Access::all("admin").with_revert()),
        _ => None,
    }
}

struct Site {
    fresh: FreshDb,
    logger: QueryLogger,
    router: Router,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
    statements: u64,
}

impl Site {
    async fn new(backend: Backend) -> Option<Site> {
        let mut fresh = setup(backend, 4).await?;
        create_table(&fresh.db, ledger::Entity).await;
        if backend == Backend::MySql {
            fresh
                .db
                .execute_unprepared("ALTER TABLE `account` MODIFY `note` LONGTEXT NULL")
                .await
                .unwrap();
        }
        let logger = QueryLogger::attach(&mut fresh.db);
        let router = Router::new().nest(
            "/admin/audit",
            Viewer::new(fresh.db.clone(), hook)
                .page_size(10)
                .revertible::<account::Entity, i32>()
                .router(),
        );
        Some(Site {
            fresh,
            logger,
            router,
        })
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let before = self.logger.counters().total().statements;
        let response = self.router.clone().oneshot(request).await.unwrap();
        let statements = self.logger.counters().total().statements - before;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
            .await
            .unwrap();
        Reply {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
            statements,
        }
    }

    async fn get(&self, user: Option<&str>, path: &str) -> Reply {
        // The feed is the prefix itself (`/admin/audit?..`), as its own links say.
        let path = path
            .strip_prefix('/')
            .filter(|p| p.is_empty() || p.starts_with('?'))
            .unwrap_or(path);
        let mut request = Request::get(format!("/admin/audit{path}"));
        if let Some(user) = user {
            request = request.header("x-user", user);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, user: &str, path: &str, form: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded_form(form);
        let request = Request::post(format!("/admin/audit{path}"))
            .header("x-user", user)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }
}

fn serde_urlencoded_form(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `href` of the first link whose attributes end with `marker` (HTML entities undone).
fn link(body: &str, marker: &str) -> Option<String> {
    let end = body.find(marker)?;
    let start = body[..end].rfind("href=\"")? + 6;
    let href = &body[start..end];
    let href = href.split('"').next()?;
    Some(
        href.replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#39;", "'"),
    )
}

/// Writes accounts with hostile notes and actors, and two ledger rows.
async fn seed(site: &Site) {
    let db = &site.fresh.db;
    for (i, value) in HOSTILE.iter().enumerate() {
        let owner = format!("owner-{i}");
        let created = audit_core::with_actor("carol", new_account(&owner, 10).insert(db))
            .await
            .unwrap();
        let mut update: account::ActiveModel = created.into();
        update.note = Set(Some((*value).to_owned()));
        update.password_hash = Set(format!("secret-{i}"));
        audit_core::with_actor(*value, update.update(db))
            .await
            .unwrap();
    }
    for memo in ["first <b>memo</b>", "second"] {
        audit_core::with_actor(
            "dave",
            ledger::ActiveModel {
                memo: Set(memo.to_owned()),
                ..Default::default()
            }
            .insert(db),
        )
        .await
        .unwrap();
    }
}

async fn no_page_without_authorization(backend: Backend) {
    let Some(site) = Site::new(backend).await else {
        return;
    };
    seed(&site).await;
    for path in [
        "/",
        "/?table=account",
        "/record?table=account&key=1",
        "/record/as-of?table=account&key=1",
        "/record/compare?table=account&key=1",
        "/changeset?id=x",
        "/export?format=csv",
        "/revert?table=account&key=1&changeset=x",
        "/assets/viewer.css",
        "/nothing-here",
    ] {
        for user in [None, Some("mallory")] {
            let reply = site.get(user, path).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path} for {user:?}");
            assert_eq!(reply.statements, 0, "{path}: refused before any SQL");
            assert!(!reply.body.contains("owner-"), "{path} leaked the trail");
            assert_eq!(
                reply.headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY
            );
        }
    }
    let refused = site
        .post("mallory", "/revert", &[("table", "account"), ("key", "1")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    site.fresh.cleanup().await.unwrap();
}

async fn pages_escape_every_value_in_one_statement(backend: Backend) {
    let Some(site) = Site::new(backend).await else {
        return;
    };
    seed(&site).await;
    let first = &site.get(Some("alice"), "/?size=500").await;
    let changeset = link(&first.body, "\" title=\"")
        .and_then(|href| href.split("id=").nth(1).map(str::to_owned))
        .expect("a changeset link");
    let pages = [
        "/?size=500".to_owned(),
        "/record?table=account&key=1".to_owned(),
        "/record/as-of?table=account&key=1".to_owned(),
        "/record/as-of?table=account&key=1&version=1".to_owned(),
        "/record/compare?table=account&key=1".to_owned(),
        "/record/compare?table=account&key=1&from=1&to=2".to_owned(),
        format!("/changeset?id={changeset}"),
        "/revert?table=account&key=1&changeset=".to_owned() + &first_changeset(&site, 1).await,
    ];
    println!("{backend:?}: statements per page");
    for path in &pages {
        let user = if path.starts_with("/revert") {
            "admin"
        } else {
            "alice"
        };
        let reply = site.get(Some(user), path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        assert!(
            (1..=3).contains(&reply.statements),
            "{path}: {} statements",
            reply.statements
        );
        println!("  {path}: {}", reply.statements);
        assert_eq!(
            reply.headers[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        assert!(
            reply.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(reply.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = &reply.body;
        for raw in [
            "<script>alert",
            "<img src=x",
            "onmouseover='",
            "<h1>forged",
            "<b>memo",
        ] {
            assert!(!body.contains(raw), "{path} shows `{raw}` unescaped");
        }
        assert!(
            !body.contains('\u{202e}'),
            "{path} shows a raw RTL override"
        );
        assert!(!body.contains("secret-"), "{path} shows a redacted value");
        // The only script is the viewer's own file: none inline, no inline handlers.
        assert_eq!(body.matches("<script").count(), 1, "{path}");
        assert!(body.contains("/admin/audit/assets/viewer.js\" defer></script>"));
        assert!(!body.contains(" style="), "{path} has an inline style");
    }
    let feed = &first.body;
    assert!(feed.contains("&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;"));
    assert!(feed.contains("\\u{202e}txt.exe"));
    assert!(feed.contains("&amp;lt;already escaped&amp;gt;"));
    assert!(feed.contains(r#"<span class="tag redacted">redacted</span>"#));
    // Timeline links of the record pages stay under the mount prefix.
    let record = site.get(Some("alice"), "/record?table=account&key=1").await;
    assert!(record.body.contains("href=\"/admin/audit/record/compare?"));
    site.fresh.cleanup().await.unwrap();
}

/// The changeset of version `n` of account 1.
async fn first_changeset(site: &Site, n: usize) -> String {
    let versions = audit_core::versions::<account::Entity>(&site.fresh.db, 1)
        .await
        .unwrap();
    versions[n].changeset_id.clone()
}

async fn feed_pages_by_keyset_and_filters(backend: Backend) {
    let Some(site) = Site::new(backend).await else {
        return;
    };
    let db = &site.fresh.db;
    let created = audit_core::with_actor("erin", new_account("paged", 0).insert(db))
        .await
        .unwrap();
    for balance in 1..=24 {
        let mut update: account::ActiveModel = created.clone().into();
        update.balance = Set(balance);
        audit_core::with_actor("erin", update.update(db))
            .await
            .unwrap();
    }
    let total = audit_core::all_history().fetch(db).await.unwrap().len();
    // Page through the whole feed by its "older" links; every row once, newest first.
    let mut path = "/".to_owned();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let reply = site.get(Some("alice"), &path).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.statements, 1, "{path}");
        seen.extend(
            reply
                .body
                .match_indices("<tr><td data-label=\"Time\">")
                .map(|(at, _)| at),
        );
        pages += 1;
        match link(&reply.body, "\" rel=\"next\"") {
            Some(next) => path = next.trim_start_matches("/admin/audit").to_owned(),
            None => break,
        }
        assert!(path.contains("before="), "{path}");
    }
    assert_eq!(seen.len(), total);
    assert_eq!(pages, total.div_ceil(10));
    // Filters: by value, by operation, by time, and a bad field named in a 400.
    let by_value = site.get(Some("alice"), "/?where=balance%3D7").await;
    assert_eq!(by_value.body.matches("<tr><td data-label").count(), 1);
    let inserts = site.get(Some("alice"), "/?op=insert&actor=erin").await;
    assert_eq!(inserts.body.matches("<tr><td data-label").count(), 5);
    let future = site.get(Some("alice"), "/?since=2999-01-01").await;
    assert!(future.body.contains("No changes match"));
    let bad = site.get(Some("alice"), "/?since=yesterday").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("since:"), "{}", bad.body);
    assert_eq!(bad.statements, 0);
    let bad_op = site.get(Some("alice"), "/?op=truncate%3Cb%3E").await;
    assert_eq!(bad_op.status, StatusCode::BAD_REQUEST);
    assert!(bad_op.body.contains("truncate&lt;b&gt;"));
    // A record's timeline pages the same way.
    let timeline = site
        .get(Some("alice"), "/record?table=account&key=1&size=3")
        .await;
    assert_eq!(timeline.statements, 1);
    let older = link(&timeline.body, "\" rel=\"next\"").expect("older link");
    let next = site
        .get(Some("alice"), older.trim_start_matches("/admin/audit"))
        .await;
    assert_eq!(next.status, StatusCode::OK);
    assert!(next.body.contains("class=\"version\""));
    site.fresh.cleanup().await.unwrap();
}

async fn access_limits_tables(backend: Backend) {
    let Some(site) = Site::new(backend).await else {
        return;
    };
    seed(&site).await;
    let feed = site.get(Some("support"), "/?size=500").await;
    assert_eq!(feed.status, StatusCode::OK);
    assert!(feed.body.contains("memo") && !feed.body.contains("owner-"));
    assert_eq!(feed.body.matches("<tr><td data-label").count(), 4);
    for path in [
        "/?table=account",
        "/record?table=account&key=1",
        "/record/as-of?table=account&key=1",
        "/record/compare?table=account&key=1",
        "/export?format=csv&table=account",
        "/revert?table=account&key=1&changeset=x",
    ] {
        let reply = site.get(Some("support"), path).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(reply.statements, 0, "{path}");
    }
    let export = site.get(Some("support"), "/export?format=ndjson").await;
    assert_eq!(export.body.lines().count(), 4);
    assert!(
        export
            .body
            .lines()
            .all(|l| l.contains("\"table_name\":\"ledger\""))
    );
    // A changeset of a table outside the access is not found, not shown.
    let hidden = first_changeset(&site, 0).await;
    let reply = site
        .get(Some("support"), &format!("/changeset?id={hidden}"))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // Read-only readers get no revert links.
    let record = site.get(Some("alice"), "/record?table=account&key=1").await;
    assert!(!record.body.contains("revert"));
    let admin = site.get(Some("admin"), "/record?table=account&key=1").await;
    assert!(admin.body.contains("class=\"revert\""));
    site.fresh.cleanup().await.unwrap();
}

async fn export_streams_the_filter(backend: Backend) {
    let Some(site) = Site::new(backend).await else {
        return;
    };
    seed(&site).await;
    let all = audit_core::all_history()
        .fetch(&site.fresh.db)
        .await
        .unwrap();
    let csv = site.get(Some("alice"), "/export?format=csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert!(csv.body.starts_with("id,changeset_id,table_name"));
    let ndjson = site
        .get(Some("alice"), "/export?format=ndjson&actor=dave")
        .await;
    let dave = all
        .iter()
        .filter(|e| e.actor.as_deref() == Some("dave"))
        .count();
    assert_eq!(ndjson.body.lines().count(), dave);
    let bad = site.get(Some("alice"), "/export?format=xml").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    site.fresh.cleanup().await.unwrap();
}

async fn reverts_need_confirmation_and_token(backend: Backend) {
    let Some(site) = Site::new(backend).await else {
        return;
    };
    seed(&site).await;
    let db = &site.fresh.db;
    let live = account::Entity::find_by_id(1)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let mut change: account::ActiveModel = live.into();
    change.note = Set(Some("changed by mistake".into()));
    audit_core::with_actor("carol", change.update(db))
        .await
        .unwrap();
    let update = first_changeset(&site, 2).await;
    // Only for readers allowed to revert.
    let path = format!("/revert?table=account&key=1&changeset={update}");
    assert_eq!(
        site.get(Some("alice"), &path).await.status,
        StatusCode::FORBIDDEN
    );
    let confirm = site.get(Some("admin"), &path).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("method=\"post\""));
    let token = confirm
        .body
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a token")
        .to_owned();
    let form = |token: &str| {
        vec![
            ("table", "account".to_owned()),
            ("key", "1".to_owned()),
            ("changeset", update.clone()),
            ("token", token.to_owned()),
        ]
    };
    let send = |user: &'static str, fields: Vec<(&'static str, String)>| {
        let site = &site;
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            site.post(user, "/revert", &pairs).await
        }
    };
    let versions = || audit_core::versions::<account::Entity>(db, 1);
    let before = versions().await.unwrap().len();
    // No token, a forged token, another reader's token, a token for another change.
    for (user, fields) in [
        ("admin", form("")),
        ("admin", form(&"0".repeat(64))),
        ("alice", form(&token)),
    ] {
        assert_eq!(send(user, fields).await.status, StatusCode::FORBIDDEN);
    }
    let mut other = form(&token);
    other[1].1 = "2".to_owned();
    assert_eq!(send("admin", other).await.status, StatusCode::FORBIDDEN);
    assert_eq!(versions().await.unwrap().len(), before, "nothing written");
    // The confirmed revert: a new audited write by the signed-in actor.
    let done = send("admin", form(&token)).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.headers[header::LOCATION],
        "/admin/audit/record?table=account&key=1"
    );
    let after = versions().await.unwrap();
    assert_eq!(after.len(), before + 1);
    let undo = after.last().unwrap();
    assert_eq!(undo.actor.as_deref(), Some("admin"));
    assert_eq!(undo.context.as_ref().unwrap()["via"], "audit viewer");
    let live = account::Entity::find_by_id(1)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.note.as_deref(), Some(HOSTILE[0]));
    // Reverting it again conflicts with the revert itself: refused with the reason.
    let again = send("admin", form(&token)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    site.fresh.cleanup().await.unwrap();
}

async fn huge_values_are_cut(backend: Backend) {
    let Some(site) = Site::new(backend).await else {
        return;
    };
    let db = &site.fresh.db;
    let created = new_account("huge", 1).insert(db).await.unwrap();
    let mut update: account::ActiveModel = created.into();
    update.note = Set(Some("<".repeat(10 << 20)));
    update.update(db).await.unwrap();
    for path in [
        "/",
        "/record?table=account&key=1",
        "/record/as-of?table=account&key=1",
    ] {
        let reply = site.get(Some("alice"), path).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply.body.len() < 64 << 10,
            "{path}: {} bytes",
            reply.body.len()
        );
        assert!(reply.body.contains("bytes)"), "{path}: the cut is said");
    }
    site.fresh.cleanup().await.unwrap();
}

macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $test() { super::$test(super::Backend::Sqlite).await } )* }
        mod postgres { $( #[tokio::test] async fn $test() { super::$test(super::Backend::Postgres).await } )* }
        mod mysql { $( #[tokio::test] async fn $test() { super::$test(super::Backend::MySql).await } )* }
    };
}

on_every_backend!(
    no_page_without_authorization,
    pages_escape_every_value_in_one_statement,
    feed_pages_by_keyset_and_filters,
    access_limits_tables,
    export_streams_the_filter,
    reverts_need_confirmation_and_token,
    huge_values_are_cut,
);
