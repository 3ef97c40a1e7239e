-- Version 7 -> 8 (issue 20), as migrations/8.sql for SQLite.

ALTER TABLE webhook_deliveries ADD COLUMN leased_until BIGINT;
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries(webhook_n) WHERE leased_until IS NOT NULL;

UPDATE audit_log
   SET details = jsonb_set(details::jsonb, '{url}', to_jsonb(substring(details::jsonb ->> 'url' FROM '^[^?#]*')))::text
 WHERE action IN ('webhook.created', 'webhook.updated')
   AND jsonb_typeof(details::jsonb -> 'url') = 'string'
   AND details::jsonb ->> 'url' ~ '[?#]';

UPDATE schema_version SET version = 8;
