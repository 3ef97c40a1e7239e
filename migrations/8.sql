-- Version 7 -> 8 (issue 20): fair webhook delivery, and no receiver tokens left in the audit log.

-- When a worker's lease on a delivery ends: set when it is taken, cleared when the attempt is
-- recorded. A pending row whose lease is still running is in flight, whichever replica holds
-- it; the per-endpoint and per-organization limits count those (src/store/webhooks.rs, take_due).
ALTER TABLE webhook_deliveries ADD COLUMN leased_until INTEGER;
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries(webhook_n) WHERE leased_until IS NOT NULL;

-- webhook.created and webhook.updated recorded the whole URL, and with it any token the receiver
-- put in its query string. What is kept is where it pointed: the URL cut at the first '?' or '#'
-- (a URL as it was stored holds neither before its query). Credentials in a URL were always
-- refused.
UPDATE audit_log
   SET details = json_set(details, '$.url', substr(json_extract(details, '$.url'), 1,
         CASE WHEN instr(json_extract(details, '$.url'), '?') = 0 THEN instr(json_extract(details, '$.url'), '#')
              WHEN instr(json_extract(details, '$.url'), '#') = 0 THEN instr(json_extract(details, '$.url'), '?')
              ELSE min(instr(json_extract(details, '$.url'), '?'), instr(json_extract(details, '$.url'), '#'))
         END - 1))
 WHERE action IN ('webhook.created', 'webhook.updated')
   AND CASE WHEN json_valid(details) THEN json_type(details, '$.url') = 'text'
              AND (instr(json_extract(details, '$.url'), '?') > 0 OR instr(json_extract(details, '$.url'), '#') > 0)
            ELSE 0 END;

PRAGMA user_version = 8;
