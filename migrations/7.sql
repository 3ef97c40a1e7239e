-- Version 6 -> 7 (issue 20, authority as one rule). Columns renamed and added, nothing rebuilt.

-- Idempotency records belong to the credential that made them (a key, or a signed-in session),
-- in its organization, no longer to the person: another key of the same person replaying a
-- record got what the first key made. Records made before the upgrade were filed by person;
-- they keep answering nobody (the service refuses a request that meets one with 409
-- idempotency_conflict rather than doing the work twice) and are pruned within 24 hours.
ALTER TABLE idempotency RENAME COLUMN user_id TO owner;
UPDATE idempotency SET owner = 'user:' || owner;

-- One claim link, one account: the account signed up through a pending link, if one was.
ALTER TABLE provisions ADD COLUMN signed_up TEXT;

-- An address typed into a provision by whoever made it proves nothing; until now a new person
-- signing up through such a link was marked verified. Those accounts are verified no longer:
-- their holders verify through the link mailed to them (the dashboard offers a new one).
UPDATE users SET email_verified = 0
 WHERE email_verified = 1
   AND id IN (SELECT claimed_by FROM provisions
               WHERE status = 'claimed' AND email IS NOT NULL AND claimed_by = user_id);

PRAGMA user_version = 7;
