// A webhook receiver for the integration tests (driven by tests/api/helpers/receiver.rs). Every
// delivery's signature is checked by the official `standardwebhooks` package (pinned in
// package-lock.json), unmodified: nothing here computes or compares a signature.
//
//   node receiver.mjs       listens on 127.0.0.1, port 0; the first stdout line is `listening <port>`
//
// With RECEIVER_EXIT_ON_STDIN_EOF=1 it exits when its stdin closes, so it cannot outlive the test
// process that started it (even one killed before it could stop the receiver).
//
// Deliveries:  POST /hook/<name>
//   Recorded as { name, id, timestamp, signature, verified, error?, secretIndex, verifiedWithRealClock,
//   timestampSkewSeconds, status, headers, body } and answered with the next status of <name>'s
//   script (200 once the script is used up). A script entry of 0 means hang: the request is
//   recorded, and never answered while the process lives.
//
// Control, plain JSON on the same port:
//   PUT /control/<name>  {"secret": "whsec_..."} or {"secrets": [...]}, and/or {"script": [500, 0, 200]}:
//                        fields given replace the name's; fields left out are kept.
//   GET /control/<name>  {"deliveries": [...]}, in arrival order
//   GET /control         {"deliveries": [...]}, every name's, in arrival order
//
// The timestamp tolerance. `Webhook.verify` rejects a timestamp more than 5 minutes from
// `Date.now()` (verifyTimestamp in dist/index.js), and the server under test may sign with an
// injected clock hours ahead of this machine's. So `verified` is the library's verdict at the
// delivery's own instant: `Date.now` reads the delivery's timestamp only for the duration of the
// synchronous verify call. The signature over `<id>.<timestamp>.<body>` and its comparison stay the
// library's. How far the timestamp is from the real clock is recorded on its own
// (`timestampSkewSeconds`), along with the library's full verdict against the real clock
// (`verifiedWithRealClock`), for tests to assert on.

import http from "node:http";
import { Webhook } from "standardwebhooks";

/** name -> { secrets: string[], script: number[] } */
const names = new Map();
/** Every delivery, in arrival order. */
const deliveries = [];
/** Requests told to hang, kept referenced until the process exits. */
const hanging = [];

function entry(name) {
  let e = names.get(name);
  if (!e) {
    e = { secrets: [], script: [] };
    names.set(name, e);
  }
  return e;
}

/** Runs `fn` with `Date.now` answering `ms`; verify is synchronous, so nothing else sees it. */
function withNow(ms, fn) {
  const realNow = Date.now;
  Date.now = () => ms;
  try {
    return fn();
  } finally {
    Date.now = realNow;
  }
}

/** The library's verdict for `body` under each secret in turn: the first that verifies wins. */
function verify(secrets, body, headers, nowMs) {
  if (secrets.length === 0) return { verified: false, error: "no secret registered for this name" };
  const errors = [];
  for (let i = 0; i < secrets.length; i++) {
    try {
      const wh = new Webhook(secrets[i]);
      // jsonParse: false, so a body that is not JSON is still judged on its signature alone.
      const check = () => wh.verify(body, headers, { jsonParse: false });
      if (Number.isNaN(nowMs)) check();
      else withNow(nowMs, check);
      return { verified: true, secretIndex: i };
    } catch (e) {
      errors.push(`secret ${i}: ${e && e.message ? e.message : String(e)}`);
    }
  }
  return { verified: false, error: errors.join("; ") };
}

function verifiedWithRealClock(secret, body, headers) {
  try {
    new Webhook(secret).verify(body, headers, { jsonParse: false });
    return true;
  } catch {
    return false;
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function sendJson(res, status, value) {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function validStatus(s) {
  return Number.isInteger(s) && (s === 0 || (s >= 200 && s <= 599));
}

async function onHook(req, res, name) {
  const raw = await readBody(req);
  const h = req.headers;
  const realNowSeconds = Math.floor(Date.now() / 1000);
  // Parsed as the library parses it (verifyTimestamp: parseInt(header, 10)).
  const ts = parseInt(h["webhook-timestamp"], 10);
  const e = entry(name);
  const result = verify(e.secrets, raw, h, ts * 1000);
  let body = null;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch {
    body = null;
  }
  const status = e.script.length > 0 ? e.script.shift() : 200;
  const record = {
    name,
    id: h["webhook-id"] ?? null,
    timestamp: h["webhook-timestamp"] ?? null,
    signature: h["webhook-signature"] ?? null,
    verified: result.verified,
    ...(result.error !== undefined ? { error: result.error } : {}),
    secretIndex: result.verified ? result.secretIndex : null,
    verifiedWithRealClock: result.verified ? verifiedWithRealClock(e.secrets[result.secretIndex], raw, h) : false,
    timestampSkewSeconds: Number.isNaN(ts) ? null : ts - realNowSeconds,
    status,
    headers: h,
    body,
  };
  deliveries.push(record);
  if (status === 0) {
    hanging.push(res);
    return;
  }
  res.writeHead(status, { "content-type": "text/plain" });
  res.end(`${status}\n`);
}

async function onControl(req, res, name) {
  if (req.method === "GET") {
    const list = name === null ? deliveries : deliveries.filter((d) => d.name === name);
    return sendJson(res, 200, { deliveries: list });
  }
  if (req.method !== "PUT" || name === null) return sendJson(res, 405, { error: "GET /control[/<name>] or PUT /control/<name>" });
  let cfg;
  try {
    cfg = JSON.parse((await readBody(req)).toString("utf8"));
  } catch (e) {
    return sendJson(res, 400, { error: `not JSON: ${e.message}` });
  }
  if (cfg === null || typeof cfg !== "object") return sendJson(res, 400, { error: "expected a JSON object" });
  let secrets;
  if (cfg.secrets !== undefined) {
    if (!Array.isArray(cfg.secrets) || !cfg.secrets.every((s) => typeof s === "string"))
      return sendJson(res, 400, { error: "secrets: expected an array of strings" });
    secrets = [...cfg.secrets];
  }
  if (cfg.secret !== undefined) {
    if (typeof cfg.secret !== "string") return sendJson(res, 400, { error: "secret: expected a string" });
    secrets = [cfg.secret, ...(secrets ?? [])];
  }
  if (cfg.script !== undefined && (!Array.isArray(cfg.script) || !cfg.script.every(validStatus)))
    return sendJson(res, 400, { error: "script: expected an array of statuses (200-599, or 0 to hang)" });
  const e = entry(name);
  if (secrets !== undefined) e.secrets = secrets;
  if (cfg.script !== undefined) e.script = [...cfg.script];
  return sendJson(res, 200, { name, secrets: e.secrets.length, script: e.script });
}

function route(req) {
  const path = (req.url ?? "/").split("?")[0];
  const m = /^\/(hook|control)(?:\/(.+))?$/.exec(path);
  if (!m) return null;
  let name = m[2] === undefined ? null : m[2];
  if (name !== null) {
    try {
      name = decodeURIComponent(name);
    } catch {
      /* keep it as it came */
    }
  }
  return { kind: m[1], name };
}

const server = http.createServer((req, res) => {
  const r = route(req);
  let done;
  if (r && r.kind === "hook" && r.name !== null && req.method === "POST") done = onHook(req, res, r.name);
  else if (r && r.kind === "control") done = onControl(req, res, r.name);
  else done = Promise.resolve(sendJson(res, 404, { error: `no route for ${req.method} ${req.url}` }));
  done.catch((e) => {
    process.stderr.write(`webhook receiver: ${req.method} ${req.url}: ${e && e.stack ? e.stack : e}\n`);
    if (!res.headersSent) sendJson(res, 500, { error: String(e) });
  });
});
// A hanging delivery stays open for as long as the process lives.
server.timeout = 0;
server.requestTimeout = 0;

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

if (process.env.RECEIVER_EXIT_ON_STDIN_EOF === "1") {
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("close", () => process.exit(0));
  process.stdin.on("error", () => process.exit(0));
  process.stdin.resume();
}
