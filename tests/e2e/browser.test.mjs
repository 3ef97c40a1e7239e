// Real-browser tests of the claim flow and the dashboard, in Debian's headless Chromium driven by
// playwright-core. tests/api/browser.rs starts the server and passes what it prepared in the environment.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { createRequire } from "node:module";

const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set`);
  return v;
};
const BASE = env("BASE_URL");
const ADMIN = { email: env("ADMIN_EMAIL"), password: env("ADMIN_PASSWORD") };
const EXISTING = { email: env("EXISTING_EMAIL"), password: env("EXISTING_PASSWORD") };
const EXPIRED_CLAIM_URL = env("EXPIRED_CLAIM_URL");
const MEMBER = { email: env("MEMBER_EMAIL"), id: env("MEMBER_ID"), apiKey: env("MEMBER_KEY") };
const PROVISIONED = Number(env("PROVISIONED"));
const SHOTS = process.env.SCREENSHOT_DIR; // set to refresh the README's screenshots

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // No sandbox as root in CI; no background traffic on a machine with a closed network.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});
after(async () => { await browser?.close(); });

async function shot(page, name, fullPage = true) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage });
}

async function fresh(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, ...options });
  const page = await context.newPage();
  return { context, page };
}

async function logIn(page, who) {
  await page.goto(`${BASE}/login`);
  await page.fill("#login-email", who.email);
  await page.fill("#login-password", who.password);
  await Promise.all([page.waitForURL(`${BASE}/team`), page.click("#login-submit")]);
}

/// The admin provisions from the dashboard's dialog and reads the result off the page.
async function provision(page, { skipOnboarding, email }) {
  await page.goto(`${BASE}/team`);
  await page.click("#provision-open");
  assert.ok(await page.isVisible("#provision-dialog"), "the button opens the dialog");
  await page.selectOption("#dialog-role", "member");
  if (email) await page.fill("#dialog-email", email);
  await page.setChecked("#dialog-skip", skipOnboarding);
  await page.click("#dialog-submit");
  await page.waitForSelector("#claim-url");
  const read = async (id) => (await page.textContent(`#${id}`)).trim();
  return { claimUrl: await read("claim-url"), apiKey: await read("api-key"), userId: await read("user-id"), projectId: await read("project-id") };
}

async function whoIs(apiKey) {
  const res = await fetch(`${BASE}/v1/user`, { headers: { Authorization: `Bearer ${apiKey}` } });
  assert.equal(res.status, 200);
  return res.json();
}

test("an admin provisions from the dashboard; a new person signs up through the link and claims", async () => {
  const admin = await fresh();
  await logIn(admin.page, ADMIN);
  assert.equal((await admin.page.textContent("#org-name")).trim(), "Acme Robotics");
  await shot(admin.page, "dashboard");
  const p = await provision(admin.page, { skipOnboarding: false });
  assert.match(p.claimUrl, new RegExp(`^${BASE}/claim\\?token=[0-9a-f]{64}$`));
  assert.match(p.apiKey, /^oc_[0-9a-f]{64}$/);
  await shot(admin.page, "provisioned");
  // The copy button works under the strict CSP (its script is our own file).
  await admin.page.click("button[data-copy=api-key]");
  await admin.page.waitForFunction(() =>
    /^(Copied|Selected)/.test(document.querySelector("button[data-copy=api-key]").textContent));
  // The key works before anyone claims.
  assert.equal((await whoIs(p.apiKey)).status, "placeholder");

  const person = await fresh();
  await person.page.goto(p.claimUrl);
  assert.equal((await person.page.textContent("#claim-org")).trim(), "Acme Robotics");
  await shot(person.page, "claim");
  await person.page.fill("#signup-email", "nora@example.com");
  await person.page.fill("#signup-password", "nora's long password");
  await Promise.all([person.page.waitForURL(p.claimUrl), person.page.click("#signup-submit")]);
  await Promise.all([person.page.waitForURL(/\/claimed\?/), person.page.click("#claim-submit")]);
  // What was received: the organization, the project, its key.
  assert.equal((await person.page.textContent("#claimed-org")).trim(), "Acme Robotics");
  assert.equal((await person.page.textContent("#claimed-project")).trim(), p.projectId);
  assert.equal(await person.page.locator("#claimed-keys li").count(), 1);
  assert.match(await person.page.textContent("#claimed-keys"), new RegExp(p.apiKey.slice(0, 11)));
  await shot(person.page, "claimed");
  await Promise.all([person.page.waitForURL(`${BASE}/onboarding`), person.page.click("#claimed-continue")]);
  await person.page.fill("#onboarding-name", "Nora Example");
  await Promise.all([person.page.waitForURL(`${BASE}/team`), person.page.click("#onboarding-submit")]);
  assert.equal((await person.page.textContent("#org-name")).trim(), "Acme Robotics");
  assert.equal((await person.page.textContent("#signed-in-as")).trim(), "nora@example.com");

  // Same user id as provisioned; the key kept working and now names the person.
  const me = await whoIs(p.apiKey);
  assert.equal(me.id, p.userId);
  assert.equal(me.email, "nora@example.com");
  assert.equal(me.status, "active");
  await admin.page.goto(`${BASE}/team`);
  assert.match(await admin.page.textContent("#members"), /nora@example\.com/);
  await admin.context.close();
  await person.context.close();
});

test("a person with an existing account logs in through the link and claims", async () => {
  const admin = await fresh();
  await logIn(admin.page, ADMIN);
  const p = await provision(admin.page, { skipOnboarding: true });

  const person = await fresh();
  await person.page.goto(p.claimUrl);
  await person.page.fill("#login-email", EXISTING.email);
  await person.page.fill("#login-password", EXISTING.password);
  await Promise.all([person.page.waitForURL(p.claimUrl), person.page.click("#login-submit")]);
  await Promise.all([person.page.waitForURL(/\/claimed\?/), person.page.click("#claim-submit")]);
  await Promise.all([person.page.waitForURL(`${BASE}/team`), person.page.click("#claimed-continue")]);
  // The claimed organization is the active one; their own is one switch away.
  assert.equal((await person.page.textContent("#org-name")).trim(), "Acme Robotics");
  const options = await person.page.$$eval("#org-switch option", (os) => os.map((o) => o.textContent));
  assert.ok(options.some((o) => o.startsWith("Other Co")), options.join());
  await person.page.selectOption("#org-switch", { label: options.find((o) => o.startsWith("Other Co")) });
  await Promise.all([person.page.waitForURL(`${BASE}/team`), person.page.click("#org-switch-submit")]);
  assert.equal((await person.page.textContent("#org-name")).trim(), "Other Co");

  const me = await whoIs(p.apiKey);
  assert.equal(me.email, EXISTING.email);
  assert.equal(me.organizationName, "Acme Robotics");
  assert.notEqual(me.id, p.userId, "the placeholder is gone; the existing account holds the key");
  await admin.context.close();
  await person.context.close();
});

test("an expired claim link shows its page", async () => {
  const { page, context } = await fresh();
  const res = await page.goto(EXPIRED_CLAIM_URL);
  assert.equal(res.status(), 400);
  assert.equal((await page.textContent("#claim-status")).trim(), "This claim link has expired");
  assert.equal(await page.$("#claim-submit"), null);
  await context.close();
});

test("tabs, search and pages through hundreds of provisions", async () => {
  const { page, context } = await fresh();
  await logIn(page, ADMIN);
  await page.goto(`${BASE}/team?tab=pending`);
  const label = (await page.textContent("#tab-pending")).trim();
  const total = Number(label.match(/\((\d+)\)/)[1]);
  assert.ok(total >= PROVISIONED, label);
  assert.equal((await page.textContent("#showing")).trim(), `Showing 1–100 of ${total}`);
  assert.equal(await page.locator("#provisions tbody tr").count(), 100);
  await shot(page, "team-pending", false);
  await Promise.all([page.waitForURL(/page=2/), page.click("#page-next")]);
  assert.equal((await page.textContent("#showing")).trim(), `Showing 101–200 of ${total}`);
  await Promise.all([page.waitForURL(/page=3/), page.click("#page-next")]);
  assert.equal((await page.textContent("#showing")).trim(), `Showing 201–${total} of ${total}`);
  assert.equal(await page.$("#page-next"), null, "no page after the last");
  // A search narrows every tab; an external id finds its one provision.
  await page.fill("#team-search", "ext-0042");
  await Promise.all([page.waitForURL(/q=ext-0042/), page.click("#team-search-submit")]);
  assert.equal((await page.textContent("#showing")).trim(), "Showing 1–1 of 1");
  assert.match(await page.textContent("#provisions"), /External ID: ext-0042/);
  // Times read as people say them, the exact time kept in the markup.
  const expires = page.locator("#provisions time").nth(1);
  assert.match((await expires.textContent()).trim(), /^in \d+ days?$/);
  assert.match(await expires.getAttribute("datetime"), /^\d{4}-\d\d-\d\dT.*Z$/);
  // The search is kept across tabs: no member has that external id.
  await Promise.all([page.waitForURL(/tab=active/), page.click("#tab-active")]);
  assert.match(await page.textContent("#showing"), /Nothing here/);
  await page.goto(`${BASE}/team?tab=active`);
  assert.match(await page.textContent("#members"), /admin@acme\.test \(you\)/);
  await context.close();
});

test("an admin changes a member's role, then removes them after confirming; their key fails at once", async () => {
  const { page, context } = await fresh();
  await logIn(page, ADMIN);
  await page.goto(`${BASE}/team?tab=active&q=${encodeURIComponent(MEMBER.email)}`);
  await page.selectOption(`#role-${MEMBER.id}`, "admin");
  await Promise.all([page.waitForURL(/done=role_changed/), page.click(`[aria-label="Change role of ${MEMBER.email}"]`)]);
  assert.match(await page.textContent("#flash"), /role is changed/);
  let me = await fetch(`${BASE}/v1/user`, { headers: { Authorization: `Bearer ${MEMBER.apiKey}` } });
  assert.equal((await me.json()).role, "admin", "the member's key acts as an admin now");
  await page.goto(`${BASE}/team?tab=active&q=${encodeURIComponent(MEMBER.email)}`);
  await Promise.all([page.waitForURL(/\/remove$/), page.click(`[aria-label="Remove ${MEMBER.email}"]`)]);
  assert.match(await page.textContent("#confirm-what"), /stops working/);
  await shot(page, "confirm-remove");
  // Keeping it changes nothing.
  await Promise.all([page.waitForURL(`${BASE}/team`), page.click("text=Keep it")]);
  me = await fetch(`${BASE}/v1/user`, { headers: { Authorization: `Bearer ${MEMBER.apiKey}` } });
  assert.equal(me.status, 200);
  await page.goto(`${BASE}/team/members/${MEMBER.id}/remove`);
  await Promise.all([page.waitForURL(/done=removed/), page.click("#confirm")]);
  assert.match(await page.textContent("#flash"), /member is removed/);
  me = await fetch(`${BASE}/v1/user`, { headers: { Authorization: `Bearer ${MEMBER.apiKey}` } });
  assert.equal(me.status, 401, "the removed member's key is refused at once");
  await context.close();
});

/// Every page a person reaches, signed in as the admin (and a few signed out).
async function everyPage(page) {
  const signedOut = [`${BASE}/login`, `${BASE}/signup`, `${BASE}/password/forgot`, EXPIRED_CLAIM_URL];
  const signedIn = ["/team", "/team?tab=pending", "/team?tab=cancelled", "/team/provision", "/team/audit", "/team/keys", "/team/credits", "/team/webhooks",
    "/account", "/no/such/page"].map((p) => `${BASE}${p}`);
  const pending = await (async () => {
    await logIn(page, ADMIN);
    await page.goto(`${BASE}/team?tab=pending`);
    const id = await page.getAttribute("#provisions tbody tr", "data-provision");
    return `${BASE}/team/provisions/${id}/cancel`;
  })();
  return { signedOut, signedIn: [...signedIn, pending] };
}

test("no page scrolls sideways at 390 px", async () => {
  const { page, context } = await fresh({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const { signedOut, signedIn } = await everyPage(page);
  const check = async (url) => {
    await page.goto(url);
    const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert.ok(scroll <= client, `${url}: ${scroll} px wide in a ${client} px viewport`);
    if (url.endsWith("/team?tab=pending")) await shot(page, "team-phone", false);
  };
  for (const url of signedIn) await check(url);
  const out = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const outPage = await out.newPage();
  for (const url of signedOut) {
    await outPage.goto(url);
    const [scroll, client] = await outPage.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert.ok(scroll <= client, `${url}: ${scroll} px wide in a ${client} px viewport`);
  }
  await out.close();
  await context.close();
});

test("no serious or critical accessibility violations on any page (axe-core)", async () => {
  // axe runs inside the page; the strict CSP would refuse its injected script, so this context
  // alone bypasses CSP.
  const { page, context } = await fresh({ bypassCSP: true });
  const { signedOut, signedIn } = await everyPage(page);
  const audit = async (p, url) => {
    await p.goto(url);
    await p.addScriptTag({ path: AXE });
    const result = await p.evaluate(() => axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }));
    const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`), [], url);
  };
  for (const url of signedIn) await audit(page, url);
  // The dialog, open.
  await page.goto(`${BASE}/team`);
  await page.click("#provision-open");
  await page.addScriptTag({ path: AXE });
  const open = await page.evaluate(() => axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }));
  assert.deepEqual(open.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id), []);
  const out = await browser.newContext({ bypassCSP: true });
  const outPage = await out.newPage();
  for (const url of signedOut) await audit(outPage, url);
  await out.close();
  await context.close();
});

test("a person creates, rotates and revokes their own key", async () => {
  const { page, context } = await fresh();
  await logIn(page, ADMIN);
  await page.goto(`${BASE}/team/keys`);
  await page.fill("#key-name", "laptop");
  await Promise.all([page.waitForURL(/\/team\/shown/), page.click("#key-create")]);
  const first = (await page.textContent("#api-key")).trim();
  assert.match(first, /^oc_[0-9a-f]{64}$/);
  const who = async (key) => (await fetch(`${BASE}/v1/user`, { headers: { Authorization: `Bearer ${key}` } })).status;
  assert.equal(await who(first), 200);
  await page.goto(`${BASE}/team/keys`);
  await Promise.all([page.waitForURL(/\/rotate$/), page.click('[aria-label="Rotate key laptop"]')]);
  await Promise.all([page.waitForURL(/\/team\/shown/), page.click("#confirm")]);
  const second = (await page.textContent("#api-key")).trim();
  assert.notEqual(second, first);
  assert.equal(await who(first), 401, "the old key stops at once");
  assert.equal(await who(second), 200);
  await page.goto(`${BASE}/team/keys`);
  const rows = page.locator("#your-keys tbody tr", { hasText: "laptop" });
  await Promise.all([page.waitForURL(/\/revoke$/), rows.locator('[aria-label="Revoke key laptop"]').first().click()]);
  await Promise.all([page.waitForURL(/done=key_revoked/), page.click("#confirm")]);
  assert.match(await page.textContent("#flash"), /revoked/);
  assert.equal(await who(second), 401);
  await context.close();
});

test("a wrong password on the claim path keeps the claim page, its organization and the address", async () => {
  const admin = await fresh();
  await logIn(admin.page, ADMIN);
  const p = await provision(admin.page, { skipOnboarding: true });
  const person = await fresh();
  await person.page.goto(p.claimUrl);
  await person.page.fill("#login-email", EXISTING.email);
  await person.page.fill("#login-password", "not the password");
  await person.page.click("#login-submit");
  await person.page.waitForSelector("#login-error");
  assert.equal((await person.page.textContent("#claim-org")).trim(), "Acme Robotics", "the claim context stays");
  assert.match(await person.page.textContent("#login-error"), /wrong/i);
  assert.equal(await person.page.inputValue("#login-email"), EXISTING.email);
  assert.equal(await person.page.getAttribute("#login-password", "aria-describedby"), "login-error");
  await shot(person.page, "claim-wrong-password");
  await person.page.fill("#login-password", EXISTING.password);
  await Promise.all([person.page.waitForURL(p.claimUrl), person.page.click("#login-submit")]);
  await Promise.all([person.page.waitForURL(/\/claimed\?/), person.page.click("#claim-submit")]);
  assert.equal((await person.page.textContent("#claimed-org")).trim(), "Acme Robotics");
  await admin.context.close();
  await person.context.close();
});
