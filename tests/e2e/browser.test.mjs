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
const PROMOTE = { email: env("PROMOTE_EMAIL"), id: env("PROMOTE_ID") };
const BOSS = { email: env("BOSS_EMAIL"), password: env("BOSS_PASSWORD") };
const VIEWER = { email: env("VIEWER_EMAIL"), password: env("VIEWER_PASSWORD") };
const SPENDER_ID = env("SPENDER_ID");
const CREDIT_DAYS = Number(env("CREDIT_DAYS"));
const VERIFY_DAYS = Number(env("VERIFY_DAYS"));
const VERIFIED_KEY_ID = env("VERIFIED_KEY_ID");
const REVOKED_KEY_ID = env("REVOKED_KEY_ID"); // verified once after it was revoked: one refusal
const WEBHOOK_ID = env("WEBHOOK_ID");
const EVENT_ID = env("EVENT_ID");
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
// axe's rule sets, and the one the issue saw that axe keeps experimental.
const AXE_RUN = { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }, rules: { "label-content-name-mismatch": { enabled: true } }, resultTypes: ["violations"] };
const ISO_TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d/;
const SHOTS = process.env.SCREENSHOT_DIR; // set to refresh the README's screenshots
// How pages are drawn (layout at 390 px, axe, dark mode) does not depend on which replica
// answers: the run through two replicas (RENDERING_CHECKS=off) leaves those to the single
// server's run and walks the journeys only, which is what replicas can break.
const RENDERING = process.env.RENDERING_CHECKS === "off" ? "checked in the single server's run" : false;

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
  const context = await browser.newContext({ viewport: DESKTOP, ...options });
  const page = await context.newPage();
  return { context, page };
}

async function logIn(page, who) {
  await page.goto(`${BASE}/login`);
  await page.fill("#login-email", who.email);
  await page.fill("#login-password", who.password);
  await Promise.all([page.waitForURL(`${BASE}/team`), page.click("#login-submit")]);
}

/// The visible text of the page.
const visibleText = (page) => page.evaluate(() => document.body.innerText);

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
  await Promise.all([page.waitForURL(/done=role_changed/), page.click(`tr[data-user="${MEMBER.id}"] [data-action=role]`)]);
  assert.equal((await page.textContent("#flash")).trim(), `${MEMBER.email} is now an admin; their keys act with it from their next request.`);
  assert.equal(await page.inputValue("#team-search"), MEMBER.email, "the search is kept");
  let me = await fetch(`${BASE}/v1/user`, { headers: { Authorization: `Bearer ${MEMBER.apiKey}` } });
  assert.equal((await me.json()).role, "admin", "the member's key acts as an admin now");
  await page.goto(`${BASE}/team?tab=active&q=${encodeURIComponent(MEMBER.email)}`);
  await Promise.all([page.waitForURL(/\/remove$/), page.click(`tr[data-user="${MEMBER.id}"] [data-action=remove]`)]);
  assert.equal((await page.textContent("#confirm-title")).trim(), `Remove ${MEMBER.email}?`);
  assert.match(await page.textContent("#confirm-what"), /stops working/);
  await shot(page, "confirm-remove");
  // Keeping it changes nothing.
  await Promise.all([page.waitForURL(`${BASE}/team`), page.click("text=Keep it")]);
  me = await fetch(`${BASE}/v1/user`, { headers: { Authorization: `Bearer ${MEMBER.apiKey}` } });
  assert.equal(me.status, 200);
  await page.goto(`${BASE}/team/members/${MEMBER.id}/remove`);
  await Promise.all([page.waitForURL(/done=removed/), page.click("#confirm")]);
  assert.match(await page.textContent("#flash"), new RegExp(`${MEMBER.email} is removed`));
  me = await fetch(`${BASE}/v1/user`, { headers: { Authorization: `Bearer ${MEMBER.apiKey}` } });
  assert.equal(me.status, 401, "the removed member's key is refused at once");
  await context.close();
});

/// Every page a person reaches, signed in as the admin (and a few signed out), with the data the
/// server was given: 300 provisions, 15 members, keys, a failing webhook, ~160 uses of credits.
async function everyPage(page) {
  const signedOut = [`${BASE}/login`, `${BASE}/signup`, `${BASE}/password/forgot`, EXPIRED_CLAIM_URL];
  const signedIn = ["/team", "/team?tab=pending", "/team?tab=claimed", "/team?tab=cancelled", "/team?tab=expired", "/team/provision",
    "/team/audit", "/team/audit?action=member.*", "/team/keys", `/team/keys?user=${SPENDER_ID}&all=1`, `/team/keys/${VERIFIED_KEY_ID}`,
    "/team/credits", "/team/webhooks", `/team/webhooks/${WEBHOOK_ID}/deliveries/${EVENT_ID}`, `/team/members/${PROMOTE.id}/remove`,
    "/account", "/no/such/page"].map((p) => `${BASE}${p}`);
  await logIn(page, ADMIN);
  await page.goto(`${BASE}/team?tab=pending`);
  const id = await page.getAttribute("#provisions tbody tr", "data-provision");
  return { signedOut, signedIn: [...signedIn, `${BASE}/team/provisions/${id}/cancel`, `${BASE}/team/provisions/${id}/renew`] };
}

test("no page scrolls sideways at 390 px, and buttons, selects and links that act are 44 px tall", { skip: RENDERING }, async () => {
  const { page, context } = await fresh(PHONE);
  const { signedOut, signedIn } = await everyPage(page);
  const check = async (p, url) => {
    await p.goto(url);
    const [scroll, client] = await p.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert.ok(scroll <= client, `${url}: ${scroll} px wide in a ${client} px viewport`);
    const small = await p.evaluate(() => [...document.querySelectorAll("button, select, a.button, .sidebar a, .tabs a, .pager a")]
      .filter((e) => e.offsetParent !== null && !e.closest("dialog"))
      .map((e) => [e.textContent.trim().slice(0, 30) || e.id, e.getBoundingClientRect().height])
      .filter(([, h]) => h < 44));
    assert.deepEqual(small, [], `${url}: controls under 44 px`);
    // How tall each page is on a phone (the issue saw Team at 14,276 px and Credits at 26,725).
    const tall = await p.evaluate(() => document.documentElement.scrollHeight);
    console.log(`390 px: ${url.replace(BASE, "")} is ${tall} px tall`);
  };
  for (const url of signedIn) {
    await check(page, url);
    if (url.endsWith("/team?tab=pending")) await shot(page, "team-phone", false);
  }
  const out = await browser.newContext(PHONE);
  const outPage = await out.newPage();
  for (const url of signedOut) await check(outPage, url);
  await out.close();
  await context.close();
});

test("no serious or critical accessibility violations on any page, with data, at both widths, light and dark (axe-core)", { skip: RENDERING }, async () => {
  for (const [name, options] of [["desktop", { viewport: DESKTOP }], ["phone", PHONE]]) {
    for (const colorScheme of ["light", "dark"]) {
      // axe runs inside the page; the strict CSP would refuse its injected script, so these
      // contexts alone bypass CSP.
      const { page, context } = await fresh({ ...options, bypassCSP: true, colorScheme });
      const { signedOut, signedIn } = await everyPage(page);
      const audit = async (p, url) => {
        await p.goto(url);
        await p.addScriptTag({ path: AXE });
        const result = await p.evaluate((run) => axe.run(document, run), AXE_RUN);
        const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
        assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`), [], `${name} ${colorScheme} ${url}`);
      };
      // Dark mode costs a run of its own only where colours differ most: the busiest pages.
      const pages = colorScheme === "light" ? signedIn : signedIn.filter((u) => /team(\?tab=pending)?$|credits|webhooks$|audit$/.test(u));
      for (const url of pages) await audit(page, url);
      if (colorScheme === "light") {
        // The dialog, open.
        await page.goto(`${BASE}/team`);
        await page.click("#provision-open");
        await page.addScriptTag({ path: AXE });
        const open = await page.evaluate((run) => axe.run(document, run), AXE_RUN);
        assert.deepEqual(open.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id), []);
        const out = await browser.newContext({ ...options, bypassCSP: true });
        const outPage = await out.newPage();
        for (const url of signedOut) await audit(outPage, url);
        await out.close();
      }
      await context.close();
    }
  }
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
  await Promise.all([page.waitForURL(/\/rotate$/), page.locator("#your-keys tbody tr", { hasText: "laptop" }).locator("[data-action=rotate]").click()]);
  assert.match(await page.textContent("#confirm-title"), /^Rotate the key laptop \(oc_/);
  await Promise.all([page.waitForURL(/\/team\/shown/), page.click("#confirm")]);
  const second = (await page.textContent("#api-key")).trim();
  assert.notEqual(second, first);
  assert.equal(await who(first), 401, "the old key stops at once");
  assert.equal(await who(second), 200);
  await page.goto(`${BASE}/team/keys`);
  const rows = page.locator("#your-keys tbody tr", { hasText: "laptop" });
  await Promise.all([page.waitForURL(/\/revoke$/), rows.locator("[data-action=revoke]").first().click()]);
  assert.match(await page.textContent("#confirm-title"), /^Revoke the key laptop \(oc_/);
  await Promise.all([page.waitForURL(/done=key_revoked/), page.click("#confirm")]);
  assert.match(await page.textContent("#flash"), /The key laptop \(oc_.*\) is revoked/);
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

test("a member is offered no administration; an admin no owner powers; an owner all of it", async () => {
  const member = await fresh();
  await logIn(member.page, VIEWER);
  const sections = async (p) => (await p.$$eval(".sidebar a", (as) => as.map((a) => a.textContent.trim())));
  assert.deepEqual(await sections(member.page), ["Team", "API keys"]);
  assert.equal(await member.page.locator("#members [data-action]").count(), 0, "no controls on the team");
  assert.equal(await member.page.$("#provision-open"), null);
  await member.context.close();

  const admin = await fresh();
  await logIn(admin.page, BOSS);
  assert.deepEqual(await sections(admin.page), ["Team", "Provisions", "API keys", "Credits", "Audit log", "Webhooks"]);
  await admin.page.goto(`${BASE}/team?tab=active&q=${encodeURIComponent(PROMOTE.email)}`);
  const roles = await admin.page.$$eval(`#role-${PROMOTE.id} option`, (os) => os.map((o) => o.value));
  assert.deepEqual(roles, ["member", "admin"], "an admin is not offered owner");
  assert.equal(await admin.page.locator(`tr[data-user="${PROMOTE.id}"] [data-action=provisioner]`).count(), 0);
  await admin.page.goto(`${BASE}/team?tab=active&q=${encodeURIComponent(ADMIN.email)}`);
  assert.equal(await admin.page.locator("#members [data-action=role], #members [data-action=remove]").count(), 0, "nothing on an owner");
  await admin.page.goto(`${BASE}/team/credits`);
  assert.equal(await admin.page.$("#grant-amount"), null, "only owners grant");
  await admin.context.close();

  const owner = await fresh();
  await logIn(owner.page, ADMIN);
  await owner.page.goto(`${BASE}/team?tab=active&q=${encodeURIComponent(PROMOTE.email)}`);
  const ownerRoles = await owner.page.$$eval(`#role-${PROMOTE.id} option`, (os) => os.map((o) => o.value));
  assert.deepEqual(ownerRoles, ["member", "admin", "owner"]);
  assert.equal(await owner.page.locator(`tr[data-user="${PROMOTE.id}"] [data-action=provisioner]`).count(), 1);
  await owner.context.close();
});

test("a refused form comes back with what was typed and the error at its field", async () => {
  const { page, context } = await fresh();
  await logIn(page, ADMIN);
  await page.goto(`${BASE}/team/credits`);
  await page.fill("#grant-amount", "12,5 credits");
  await page.fill("#grant-reason", "pilot");
  await page.click("#grant-submit");
  await page.waitForSelector("#grant-amount-error");
  assert.equal(await page.inputValue("#grant-amount"), "12,5 credits");
  assert.equal(await page.inputValue("#grant-reason"), "pilot");
  assert.equal(await page.getAttribute("#grant-amount", "aria-describedby"), "grant-amount-error");
  assert.ok(await page.isVisible(".sidebar"), "the page, not an error page");
  await shot(page, "credits-refused", false);
  await page.goto(`${BASE}/team/webhooks`);
  await page.fill("#hook-url", "ftp://hooks.example.com/x");
  await page.check("#hook-events input[value='credits.low']");
  await page.uncheck("#hook-events input[value='*']");
  await page.click("#hook-create");
  await page.waitForSelector("#hook-url-error");
  assert.equal(await page.inputValue("#hook-url"), "ftp://hooks.example.com/x");
  assert.ok(await page.isChecked("#hook-events input[value='credits.low']"), "the events chosen stay chosen");
  await context.close();
});

test("making someone an owner asks first, then names them; confirmations and results name their object", async () => {
  const { page, context } = await fresh();
  await logIn(page, ADMIN);
  await page.goto(`${BASE}/team?tab=active&q=${encodeURIComponent(PROMOTE.email)}`);
  await page.selectOption(`#role-${PROMOTE.id}`, "owner");
  await page.click(`tr[data-user="${PROMOTE.id}"] [data-action=role]`);
  await page.waitForSelector("#confirm-title");
  assert.equal((await page.textContent("#confirm-title")).trim(), `Make ${PROMOTE.email} an owner?`);
  await shot(page, "confirm-owner");
  await Promise.all([page.waitForURL(/done=role_changed/), page.click("#confirm")]);
  assert.equal((await page.textContent("#flash")).trim(), `${PROMOTE.email} is now an owner; their keys act with it from their next request.`);
  assert.equal(await page.inputValue("#team-search"), PROMOTE.email);
  // A cancel names the provision; the result of provisioning names the person.
  await page.goto(`${BASE}/team?tab=pending&q=ext-0007`);
  await Promise.all([page.waitForURL(/\/cancel$/), page.click("#provisions [data-action=cancel]")]);
  assert.equal((await page.textContent("#confirm-title")).trim(), "Cancel the provision for p7@acme.test?");
  await page.goto(`${BASE}/team?tab=pending&q=ext-0007`);
  await Promise.all([page.waitForURL(/\/renew$/), page.click("#provisions [data-action=renew]")]);
  assert.equal((await page.textContent("#confirm-title")).trim(), "A new claim link for p7@acme.test?");
  const p = await provision(page, { skipOnboarding: true, email: "named@example.com" });
  assert.ok(p.claimUrl);
  assert.equal((await page.textContent("h1")).trim(), "User provisioned: named@example.com");
  await context.close();
});

test("credits: the ledger names its members and pages through all its entries; a picture per day", async () => {
  const { page, context } = await fresh();
  await logIn(page, ADMIN);
  await page.goto(`${BASE}/team/credits`);
  const heads = await page.$$eval("#ledger th", (ths) => ths.map((t) => t.textContent.trim()));
  assert.deepEqual(heads, ["When", "Member", "What", "Amount", "Reason"]);
  assert.match(await page.textContent("#ledger tbody tr td[data-label=Member]"), /@acme\.test/);
  const showing = (await page.textContent("#ledger-showing")).trim();
  const total = Number(showing.match(/of ([\d,]+)/)[1].replace(/,/g, ""));
  assert.ok(total >= 161, showing);
  assert.equal(showing, `Showing 1–50 of ${total}`);
  assert.equal(await page.$eval("#ledger td.num", (td) => getComputedStyle(td).textAlign), "right");
  assert.equal(await page.locator("#credits-chart g[data-day]").count(), CREDIT_DAYS, "a bar per day with use");
  assert.equal(await page.locator(`#usage tr[data-user="${SPENDER_ID}"] svg.spark rect`).count(), CREDIT_DAYS);
  await shot(page, "credits");
  await Promise.all([page.waitForURL(/before=/), page.click("#ledger-next")]);
  assert.equal((await page.textContent("#ledger-showing")).trim(), `Showing 51–100 of ${total}`);
  await context.close();
});

test("a key's page draws its verifications per day, valid and refused", async () => {
  const { page, context } = await fresh();
  await logIn(page, ADMIN);
  await page.goto(`${BASE}/team/keys/${VERIFIED_KEY_ID}`);
  assert.equal(await page.locator("#verifications-chart g[data-day]").count(), VERIFY_DAYS);
  assert.equal(await page.locator("#verifications-chart rect.ok").count(), VERIFY_DAYS);
  assert.match(await page.getAttribute("#verifications-chart svg", "aria-label"), new RegExp(`${VERIFY_DAYS} valid`));
  await shot(page, "key-verifications");
  // The revoked key: one day, one refusal, nothing valid.
  await page.goto(`${BASE}/team/keys/${REVOKED_KEY_ID}`);
  assert.equal(await page.locator("#verifications-chart g[data-day]").count(), 1);
  assert.equal(await page.locator("#verifications-chart rect.bad-bar").count(), 1);
  assert.equal(await page.locator("#verifications-chart rect.ok").count(), 0);
  await context.close();
});

test("a failing delivery shows its attempts, error, next attempt and payload; Resend tries again", async () => {
  const { page, context } = await fresh();
  await logIn(page, ADMIN);
  await page.goto(`${BASE}/team/webhooks`);
  const card = page.locator(`[data-webhook="${WEBHOOK_ID}"]`);
  assert.match(await card.locator(".health").textContent(), /failing/);
  // Its one delivery (the test event), failed, on one day.
  assert.equal(await card.locator(`#deliveries-chart-${WEBHOOK_ID} g[data-day]`).count(), 1);
  assert.equal(await card.locator(`#deliveries-chart-${WEBHOOK_ID} rect.bad-bar`).count(), 1);
  await shot(page, "webhooks");
  await Promise.all([page.waitForURL(/\/deliveries\//), card.locator(`tr[data-event="${EVENT_ID}"] a`).click()]);
  const before = await page.locator("#attempts tbody tr").count();
  assert.ok(before >= 1);
  assert.match(await page.textContent("#attempts"), /loopback|private/);
  assert.match(await page.textContent("#payload"), /"type": "webhook.test"/);
  assert.match(await page.textContent("#delivery-state"), /retrying|next attempt|failed/);
  await shot(page, "webhook-delivery");
  await Promise.all([page.waitForURL(/done=resent/), page.click("#resend")]);
  assert.match(await page.textContent("#flash"), /sent again/);
  const deadline = Date.now() + 30000;
  while ((await page.locator("#attempts tbody tr").count()) <= before) {
    assert.ok(Date.now() < deadline, "the resent attempt shows");
    await new Promise((r) => setTimeout(r, 300));
    await page.reload();
  }
  await context.close();
});

test("the audit log filters by a family of actions and exports what it shows", async () => {
  const { page, context } = await fresh();
  await logIn(page, ADMIN);
  await page.goto(`${BASE}/team/audit`);
  await page.selectOption("#audit-action", "member.*");
  await Promise.all([page.waitForURL(/action=member/), page.click("#audit-filter")]);
  const actions = await page.$$eval("#audit td[data-label=Action]", (tds) => tds.map((t) => t.textContent.trim()));
  assert.ok(actions.length > 0 && actions.every((a) => a.startsWith("member.")), actions.join());
  assert.match(await page.textContent("#audit td[data-label=Target]"), /@acme\.test/, "targets by name");
  await shot(page, "audit");
  const href = await page.getAttribute("#export-csv", "href");
  assert.match(href, /format=csv&action=member\.\*/);
  const csv = await (await page.request.get(`${BASE}${href}`)).text();
  const rows = csv.trim().split("\r\n");
  assert.match(rows[0], /^id,createdAt,action,/);
  assert.equal(rows.length - 1, actions.length, "the export holds what the page shows");
  await page.fill("#audit-actor", "nobody@acme.test");
  await page.click("#audit-filter");
  await page.waitForSelector("#audit-empty");
  await context.close();
});

test("dark mode follows the system", { skip: RENDERING }, async () => {
  const { page, context } = await fresh({ colorScheme: "dark" });
  await logIn(page, ADMIN);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, "rgb(18, 22, 29)");
  await shot(page, "dashboard-dark", false);
  const light = await fresh({ colorScheme: "light" });
  await logIn(light.page, ADMIN);
  assert.equal(await light.page.evaluate(() => getComputedStyle(document.body).backgroundColor), "rgb(246, 248, 251)");
  await light.context.close();
  await context.close();
});

test("no machine time in the visible text of the claim page and the team tabs; a skip link first", async () => {
  const admin = await fresh();
  await logIn(admin.page, ADMIN);
  const p = await provision(admin.page, { skipOnboarding: true });
  for (const tab of ["active", "pending", "claimed", "cancelled", "expired"]) {
    await admin.page.goto(`${BASE}/team?tab=${tab}`);
    assert.doesNotMatch(await visibleText(admin.page), ISO_TIME, tab);
  }
  // The exact time, in words, on hover.
  assert.match(await admin.page.getAttribute("#provisions time", "title"), /^[A-Z][a-z]+day \d+ [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC$/);
  await admin.page.keyboard.press("Tab");
  assert.equal(await admin.page.evaluate(() => document.activeElement.textContent.trim()), "Skip to content");
  const person = await fresh(PHONE);
  await person.page.goto(p.claimUrl);
  const text = await visibleText(person.page);
  assert.doesNotMatch(text, ISO_TIME);
  assert.match(text, new RegExp(`${ADMIN.email} invited you to Acme Robotics as a member`));
  assert.match(text, /The link expires in 7 days/);
  // Signed out, with no claim link, the log-in page offers no sign-up that leads nowhere.
  await person.page.goto(`${BASE}/login`);
  assert.equal(await person.page.$("a[href^='/signup']"), null);
  await admin.context.close();
  await person.context.close();
});
