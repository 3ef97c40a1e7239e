// Real-browser tests of the claim flow and the dashboard, in Debian's headless Chromium driven by
// playwright-core. tests/browser.rs starts the server and passes what it prepared in the environment.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set`);
  return v;
};
const BASE = env("BASE_URL");
const ADMIN = { email: env("ADMIN_EMAIL"), password: env("ADMIN_PASSWORD") };
const EXISTING = { email: env("EXISTING_EMAIL"), password: env("EXISTING_PASSWORD") };
const EXPIRED_CLAIM_URL = env("EXPIRED_CLAIM_URL");
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

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

async function fresh() {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  return { context, page };
}

async function logIn(page, who) {
  await page.goto(`${BASE}/login`);
  await page.fill("#login-email", who.email);
  await page.fill("#login-password", who.password);
  await Promise.all([page.waitForURL(`${BASE}/team`), page.click("#login-submit")]);
}

/// The admin provisions from the dashboard and reads the result off the page.
async function provision(page, { skipOnboarding }) {
  await page.goto(`${BASE}/team`);
  await page.selectOption("#provision-role", "member");
  await page.setChecked("#provision-skip", skipOnboarding);
  await page.click("#provision-submit");
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
  await Promise.all([person.page.waitForURL(`${BASE}/onboarding`), person.page.click("#claim-submit")]);
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
  await Promise.all([person.page.waitForURL(`${BASE}/team`), person.page.click("#claim-submit")]);
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
