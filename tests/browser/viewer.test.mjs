// End-to-end test of the audit viewer in Debian's Chromium, driven by Playwright.
//
// Starts `examples/viewer` (VIEWER_BIN, default ../../target/debug/examples/viewer) on a
// free port (on PostgreSQL when VIEWER_DB_URL is set), then: filters the feed, pages
// through it, opens a timeline, compares two versions, reads a record as of a version,
// exports CSV, reverts a change through its confirmation page, checks the phone layout,
// runs axe-core on every page (0 serious or critical violations) and watches for any
// Content-Security-Policy violation. Screenshots of each page go to artifacts/.

import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const artifacts = join(here, "artifacts", process.env.VIEWER_DB_URL ? "postgres" : "sqlite");
mkdirSync(artifacts, { recursive: true });

const bin = process.env.VIEWER_BIN ?? join(here, "../../target/debug/examples/viewer");
const args = ["--port", "0"];
if (process.env.VIEWER_DB_URL) args.push("--url", process.env.VIEWER_DB_URL);
const server = spawn(bin, args, { stdio: ["ignore", "pipe", "inherit"] });
const base = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("the viewer did not start in 60 s")), 60_000);
  server.stdout.on("data", (chunk) => {
    const found = /on (http:\/\/\S+)/.exec(chunk.toString());
    if (found) {
      clearTimeout(timer);
      resolve(found[1]);
    }
  });
  server.on("exit", (code) => reject(new Error(`the viewer exited with ${code}`)));
});

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});

const cspViolations = [];
const failures = [];
let checks = 0;

async function step(name, body) {
  try {
    await body();
    checks += 1;
    console.log(`ok   ${name}`);
  } catch (error) {
    failures.push(name);
    console.log(`FAIL ${name}\n${error.stack}`);
  }
}

async function axe(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    globalThis.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "best-practice"] }),
  );
  const serious = result.violations.filter((v) => ["serious", "critical"].includes(v.impact));
  assert.deepEqual(
    serious.map((v) => `${v.id}: ${v.help} (${v.nodes.length})`),
    [],
    `axe on ${name}`,
  );
}

async function shoot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
page.on("console", (message) => {
  if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
});

await step("the feed shows the newest changes, passes axe, and carries the CSP", async () => {
  const response = await page.goto(base);
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-security-policy"], /script-src 'self'/);
  assert.equal(await page.locator("h1").textContent(), "Recent changes");
  assert.equal(await page.locator("table.rows tbody tr").count(), 25);
  // The page's script put the local time on every time's hover text.
  assert.match(await page.locator("time").first().getAttribute("title"), /local time/);
  await axe(page, "feed");
  await shoot(page, "feed");
});

await step("filtering by actor shows only that actor's changes, in a shareable link", async () => {
  await page.goto(base);
  await page.getByLabel("Actor").fill("support:maria");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/actor=support%3Amaria/);
  const actors = await page.locator('td[data-label="Actor"]').allTextContents();
  assert.ok(actors.length > 0);
  assert.ok(actors.every((a) => a === "support:maria"), actors.join(","));
  await shoot(page, "feed-filtered");
});

await step("paging through the feed reaches the oldest change, each page new rows", async () => {
  await page.goto(base);
  const seen = new Set();
  let pages = 0;
  for (;;) {
    const ids = await page.locator('td[data-label="Changeset"] a').evaluateAll((links) =>
      links.map((a) => a.closest("tr").innerText),
    );
    pages += 1;
    ids.forEach((row) => seen.add(`${pages}:${row}`));
    const older = page.getByRole("link", { name: "Older changes" });
    if ((await older.count()) === 0) break;
    await older.click();
    assert.match(page.url(), /before=\d+/);
  }
  assert.ok(pages >= 3, `${pages} pages`);
  assert.ok(await page.getByRole("link", { name: "Newest" }).isVisible());
});

await step("a record's timeline shows each write with old and new values", async () => {
  await page.goto(`${base}?table=order&where=status%3Dpacked`);
  await page.locator('td[data-label="Record"] a').first().click();
  await page.waitForURL(/\/record\?/);
  assert.match(await page.locator("h1").textContent(), /^order \d+$/);
  assert.ok((await page.locator("section.version").count()) >= 2);
  assert.ok((await page.locator("section.version del").count()) > 0);
  assert.ok((await page.locator("section.version ins").count()) > 0);
  await axe(page, "timeline");
  await shoot(page, "timeline");
});

await step("comparing two versions lists the changed columns", async () => {
  await page.goto(`${base}/record/compare?table=order&key=1`);
  assert.match(await page.locator("h1").textContent(), /compare versions/);
  await page.getByLabel("From version").selectOption("1");
  await page.getByLabel("To version").selectOption("3");
  await page.getByRole("button", { name: "Compare" }).click();
  await page.waitForURL(/from=1&to=3/);
  const columns = await page.locator("tbody td:first-child").allTextContents();
  assert.deepEqual(columns.sort(), ["note", "status", "total_cents"]);
  await axe(page, "compare");
  await shoot(page, "compare");
});

await step("the record as of its first version is rebuilt from the trail", async () => {
  await page.goto(`${base}/record/as-of?table=order&key=1`);
  await page.getByLabel("Or version").selectOption("1");
  await page.getByRole("button", { name: "Show" }).click();
  const status = page.locator("tr", { hasText: "status" }).locator("td").nth(1);
  assert.equal(await status.textContent(), "placed");
  await axe(page, "as-of");
  await shoot(page, "as-of");
});

await step("a customer's redacted card token is shown as redacted, never its value", async () => {
  await page.goto(`${base}/record?table=customer&key=2`);
  const text = await page.locator("main").innerText();
  assert.ok(text.includes("redacted"));
  assert.ok(!text.includes("secret"));
});

await step("export downloads the current filter as CSV", async () => {
  await page.goto(`${base}?actor=support%3Ali`);
  const rows = await page.locator("table.rows tbody tr").count();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Export CSV" }).click(),
  ]);
  const csv = readFileSync(await download.path(), "utf8").trim().split("\n");
  assert.match(csv[0], /^id,changeset_id,table_name/);
  assert.equal(csv.length - 1, rows);
  assert.ok(csv.slice(1).every((line) => line.includes("support:li")));
});

await step("a revert asks for confirmation, then writes an audited undo as the signed-in actor", async () => {
  await page.goto(`${base}/record?table=order&key=1`);
  const before = await page.locator("section.version").count();
  await page.locator("section.version").first().getByRole("link", { name: "revert…" }).click();
  await page.waitForURL(/\/revert\?/);
  assert.equal(await page.locator("h1").textContent(), "Revert a change");
  await axe(page, "revert");
  await shoot(page, "revert-confirm");
  await page.getByRole("button", { name: "Revert this change" }).click();
  await page.waitForURL(/\/record\?table=order&key=1$/);
  assert.equal(await page.locator("section.version").count(), before + 1);
  const newest = page.locator("section.version").first();
  assert.match(await newest.locator(".meta").innerText(), /by demo-admin/);
  assert.match(await newest.locator(".meta").innerText(), /via: audit viewer/);
  await shoot(page, "after-revert");
});

await step("the pages fit a phone's width", async () => {
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
  for (const path of ["", "/record?table=order&key=1", "/record/compare?table=order&key=1"]) {
    await phone.goto(`${base}${path}`);
    const overflow = await phone.evaluate(
      () => document.documentElement.scrollWidth - window.innerWidth,
    );
    assert.ok(overflow <= 1, `${path || "/"} overflows by ${overflow}px`);
  }
  await phone.goto(base);
  await shoot(phone, "feed-phone");
  await phone.close();
});

await step("no page violated the Content-Security-Policy", async () => {
  assert.deepEqual(cspViolations, []);
});

await browser.close();
server.kill();
console.log(`${checks} passed, ${failures.length} failed; screenshots in ${artifacts}`);
process.exit(failures.length === 0 ? 0 : 1);
