// The official SDK, unmodified, against a running provisiond. tests/api/sdk.rs starts the server and
// passes ONECLI_URL plus an owner key and a member key in the environment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { OneCLI, OneCLIRequestError } from "@onecli-sh/sdk";

const url = process.env.ONECLI_URL;
const ownerKey = process.env.OWNER_KEY;
const memberKey = process.env.MEMBER_KEY;
assert.ok(url && ownerKey && memberKey, "ONECLI_URL, OWNER_KEY and MEMBER_KEY must be set");

test("provisionProject with an owner key, then agents with the provisioned key", async () => {
  const admin = new OneCLI({ apiKey: ownerKey, url });
  const result = await admin.provisionProject({ role: "member", skipOnboarding: true });
  assert.match(result.apiKey, /^oc_[0-9a-f]{64}$/);
  assert.match(result.claimUrl, /\/claim\?token=[0-9a-f]{64}$/);
  for (const f of ["id", "userId", "projectId"]) {
    assert.match(result[f], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }
  assert.ok(Date.parse(result.expiresAt) > Date.now() + 6 * 86400e3);

  // The provisioned key works at once, here through ONECLI_URL / ONECLI_API_KEY instead of options.
  process.env.ONECLI_API_KEY = result.apiKey;
  const agentClient = new OneCLI();
  delete process.env.ONECLI_API_KEY;
  const created = await agentClient.createAgent({ name: "Support Bot", identifier: "support" });
  assert.equal(created.identifier, "support");
  assert.equal(created.name, "Support Bot");
  assert.ok(created.id);

  const existing = await agentClient.ensureAgent({ name: "Default Agent", identifier: "default" });
  assert.deepEqual(existing, { name: "Default Agent", identifier: "default", created: false });
  const again = await agentClient.ensureAgent({ name: "Support Bot", identifier: "support" });
  assert.equal(again.created, false);
  const fresh = await agentClient.ensureAgent({ name: "Fresh", identifier: "fresh" });
  assert.deepEqual(fresh, { name: "Fresh", identifier: "fresh", created: true });

  await assert.rejects(
    agentClient.createAgent({ name: "Support Bot", identifier: "support" }),
    (e) => e instanceof OneCLIRequestError && e.statusCode === 409,
  );
});

test("provisionProject with a member key throws the SDK's request error with 403", async () => {
  const member = new OneCLI({ apiKey: memberKey, url });
  await assert.rejects(member.provisionProject({ role: "admin" }), (e) => {
    assert.ok(e instanceof OneCLIRequestError, `expected OneCLIRequestError, got ${e}`);
    assert.equal(e.statusCode, 403);
    return true;
  });
});

test("an invalid key is the SDK's request error with 401", async () => {
  const bad = new OneCLI({ apiKey: "oc_" + "0".repeat(64), url });
  await assert.rejects(
    bad.createAgent({ name: "x", identifier: "x" }),
    (e) => e instanceof OneCLIRequestError && e.statusCode === 401,
  );
});
