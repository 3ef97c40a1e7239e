//! Provisions: the record of a pre-created user and how it ended.

use super::terms::{self, Search};
use crate::clock::Millis;
use crate::db::{Conn, DbResult, Engine, Param, Row, Tx};
use crate::domain::{Keyset, ListedProvision, Provision};
use crate::domain::{OrgId, ProvisionId, ProvisionStatus, UserId};

macro_rules! columns {
    () => {
        "id, org_id, user_id, project_id, agent_id, role, skip_onboarding, status, created_by,
         created_at, expires_at, claimed_at, claimed_by, email, name, external_id, metadata"
    };
}

/// `columns!`, with the status a reader sees: a pending provision past its expiry (`?1`) is
/// expired, whether or not the sweep has marked it yet.
macro_rules! effective_columns {
    () => {
        "id, org_id, user_id, project_id, agent_id, role, skip_onboarding,
         CASE WHEN status = 'pending' AND expires_at <= ?1 THEN 'expired' ELSE status END,
         created_by, created_at, expires_at, claimed_at, claimed_by, email, name, external_id, metadata"
    };
}

/// Where the columns of `columns!` end: what a query selects after them starts here.
const AFTER_COLUMNS: usize = 17;

fn from_row(r: &Row) -> DbResult<Provision> {
    Ok(Provision {
        id: r.get(0)?,
        org_id: r.get(1)?,
        user_id: r.get(2)?,
        project_id: r.get(3)?,
        agent_id: r.get(4)?,
        role: r.get(5)?,
        skip_onboarding: r.get(6)?,
        status: r.get(7)?,
        created_by: r.get(8)?,
        created_at: r.get(9)?,
        expires_at: r.get(10)?,
        claimed_at: r.get(11)?,
        claimed_by: r.get(12)?,
        email: r.get(13)?,
        name: r.get(14)?,
        external_id: r.get(15)?,
        metadata: r.get(16)?,
    })
}

/// A new provision, indexed for the team page's search by the words of its address, label and
/// external id (see `terms`).
pub fn insert(tx: &Tx, p: &Provision, token_hash: &[u8; 32]) -> DbResult<()> {
    let n: i64 = tx.value(
        "INSERT INTO provisions (id, org_id, user_id, project_id, agent_id, role, skip_onboarding, status,
                                 created_by, created_at, expires_at, claimed_at, claimed_by, token_hash,
                                 email, name, external_id, metadata)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) RETURNING n",
        &[
            &p.id,
            &p.org_id,
            &p.user_id,
            &p.project_id,
            &p.agent_id,
            &p.role,
            &p.skip_onboarding,
            &p.status,
            &p.created_by,
            &p.created_at,
            &p.expires_at,
            &p.claimed_at,
            &p.claimed_by,
            &&token_hash[..],
            &p.email,
            &p.name,
            &p.external_id,
            &p.metadata,
        ],
    )?;
    terms::insert(tx, &p.org_id, n, [p.email.as_deref(), p.name.as_deref(), p.external_id.as_deref()])
}

/// This organization's provisions, newest first, with their effective status at `now` (the
/// first page of at most `limit`; the dashboard's view).
pub fn list(
    conn: &Conn,
    org: &OrgId,
    status: Option<ProvisionStatus>,
    now: Millis,
    limit: u32,
) -> DbResult<Vec<Provision>> {
    let filter = ListFilter { status, external_id: None };
    Ok(page(conn, org, &filter, None, now, limit)?.into_iter().map(|(p, _)| p).collect())
}

pub struct ListFilter {
    /// The effective status (expiry included).
    pub status: Option<ProvisionStatus>,
    pub external_id: Option<String>,
}

/// A page of this organization's provisions, newest first (ties by row number, newest first),
/// strictly after the (`created_at`, `n`) given; each with its row number, the rest of the
/// list's sort key. Keyset, not offset: rows made or ended meanwhile shift nothing.
pub fn page(
    conn: &Conn,
    org: &OrgId,
    filter: &ListFilter,
    after: Option<(Millis, i64)>,
    now: Millis,
    limit: u32,
) -> DbResult<Vec<(Provision, i64)>> {
    macro_rules! page_sql {
        ($after:literal) => {
            concat!(
                "SELECT ",
                effective_columns!(),
                ", n FROM provisions
                  WHERE org_id = ?2 AND (CAST(?3 AS TEXT) IS NULL OR
                        CASE WHEN status = 'pending' AND expires_at <= ?1 THEN 'expired' ELSE status END = CAST(?3 AS TEXT))
                    AND (CAST(?4 AS TEXT) IS NULL OR external_id = CAST(?4 AS TEXT))",
                $after,
                " ORDER BY created_at DESC, n DESC LIMIT ?7"
            )
        };
    }
    // Two statements rather than `?5 IS NULL OR …`: only a plain comparison lets the index seek
    // to the cursor, so a deep page costs what the first does.
    let sql = match after {
        None => page_sql!(" AND CAST(?5 AS BIGINT) IS NULL AND CAST(?6 AS BIGINT) IS NULL"),
        Some(_) => page_sql!(" AND (created_at, n) < (CAST(?5 AS BIGINT), CAST(?6 AS BIGINT))"),
    };
    let (at, n) = (after.map(|a| a.0), after.map(|a| a.1));
    conn.query_all(sql, &[&now, org, &filter.status, &filter.external_id, &at, &n, &i64::from(limit)], |r| {
        Ok((from_row(r)?, r.get(AFTER_COLUMNS)?))
    })
}

/// Where a tab's rows are: its effective status at `?1` (a pending provision past its expiry is
/// expired), written so the index `provisions_org_status` serves it.
fn tab_where(status: ProvisionStatus) -> &'static str {
    match status {
        ProvisionStatus::Pending => "status = 'pending' AND expires_at > ?1",
        ProvisionStatus::Claimed => "status = 'claimed'",
        ProvisionStatus::Cancelled => "status = 'cancelled'",
        ProvisionStatus::Expired => "(status = 'expired' OR (status = 'pending' AND expires_at <= ?1))",
    }
}

/// A page of the team page's tab `status`: the organization's provisions newest first, from
/// `at` (keyset, either way), matching every word of `search` when given (`terms`), each with
/// the addresses of who made and who claimed it.
pub fn tab_page(
    conn: &Conn,
    org: &OrgId,
    status: ProvisionStatus,
    search: Option<&Search>,
    now: Millis,
    at: Keyset,
    limit: u32,
) -> DbResult<Vec<ListedProvision>> {
    let limit = i64::from(limit);
    let mut params: Vec<&dyn Param> = vec![&now, org, &limit];
    let (key_sql, order, key) = match at {
        Keyset::First => ("", "DESC", None),
        Keyset::After(t, n) => {
            (" AND (created_at, n) < (CAST(?4 AS BIGINT), CAST(?5 AS BIGINT))", "DESC", Some((t, n)))
        }
        Keyset::Before(t, n) => {
            (" AND (created_at, n) > (CAST(?4 AS BIGINT), CAST(?5 AS BIGINT))", "ASC", Some((t, n)))
        }
    };
    let key = key.unwrap_or((0, 0));
    if !key_sql.is_empty() {
        params.push(&key.0);
        params.push(&key.1);
    }
    let narrow = match search {
        Some(s) => s.narrow(conn, org)?,
        None => false,
    };
    let first = params.len() + 1;
    let from = search.map(|s| s.from(narrow, 2, first)).unwrap_or_else(|| "provisions p".into());
    let search_sql = search.map(|s| s.sql(narrow, 2, first)).unwrap_or_default();
    let search_params = search.map(Search::params).unwrap_or_default();
    params.extend(search_params);
    let sql = format!(
        "SELECT {}, (SELECT email FROM users WHERE id = p.created_by), (SELECT email FROM users WHERE id = p.claimed_by), n
           FROM {from} WHERE org_id = ?2 AND {}{key_sql}{search_sql}
          ORDER BY created_at {order}, n {order} LIMIT ?3",
        effective_columns!(),
        tab_where(status)
    );
    let mut rows = conn.query_all(&sql, &params, |r| {
        Ok(ListedProvision {
            provision: from_row(r)?,
            created_by: r.get(AFTER_COLUMNS)?,
            claimed_by: r.get(AFTER_COLUMNS + 1)?,
            n: r.get(AFTER_COLUMNS + 2)?,
        })
    })?;
    if order == "ASC" {
        rows.reverse();
    }
    Ok(rows)
}

/// How many of the organization's provisions each tab holds at `now` (matching `search` when
/// given). Without a search: the stored statuses counted from the index `provisions_org_status`
/// alone, and the pending ones past their expiry (which the sweep has yet to mark, so few)
/// through the index of pending provisions by expiry, moved from pending to expired.
pub fn tab_counts(
    conn: &Conn,
    org: &OrgId,
    search: Option<&Search>,
    now: Millis,
) -> DbResult<Vec<(ProvisionStatus, i64)>> {
    if let Some(search) = search {
        let mut params: Vec<&dyn Param> = vec![&now, org];
        params.extend(search.params());
        let narrow = search.narrow(conn, org)?;
        return conn.query_all(
            &format!(
                "SELECT CASE WHEN status = 'pending' AND expires_at <= ?1 THEN 'expired' ELSE status END AS s, COUNT(*)
                   FROM {} WHERE org_id = ?2{} GROUP BY s",
                search.from(narrow, 2, 3),
                search.sql(narrow, 2, 3)
            ),
            &params,
            |r| Ok((r.get(0)?, r.get(1)?)),
        );
    }
    let mut counts: Vec<(ProvisionStatus, i64)> = conn.query_all(
        "SELECT status, COUNT(*) FROM provisions WHERE org_id = ?1 GROUP BY status",
        &[org],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    // SQLite would walk the organization's pending rows instead; PostgreSQL picks the partial
    // index by itself.
    let overdue: i64 = conn.value(
        match conn.engine() {
            Engine::Sqlite => {
                "SELECT COUNT(*) FROM provisions INDEXED BY provisions_pending
                  WHERE status = 'pending' AND expires_at <= ?1 AND org_id = ?2"
            }
            Engine::Postgres => {
                "SELECT COUNT(*) FROM provisions WHERE status = 'pending' AND expires_at <= ?1 AND org_id = ?2"
            }
        },
        &[&now, org],
    )?;
    if overdue > 0 {
        for (status, n) in counts.iter_mut() {
            if *status == ProvisionStatus::Pending {
                *n -= overdue;
            }
        }
        match counts.iter_mut().find(|(s, _)| *s == ProvisionStatus::Expired) {
            Some((_, n)) => *n += overdue,
            None => counts.push((ProvisionStatus::Expired, overdue)),
        }
    }
    Ok(counts)
}

/// How many provisions there are in each effective status at `now`, across organizations.
pub fn count_by_status(conn: &Conn, now: Millis) -> DbResult<Vec<(String, i64)>> {
    conn.query_all(
        "SELECT CASE WHEN status = 'pending' AND expires_at <= ?1 THEN 'expired' ELSE status END AS s, COUNT(*)
           FROM provisions GROUP BY s",
        &[&now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// One provision of this organization, with its effective status at `now`; another
/// organization's is as absent as a missing one.
pub fn get(conn: &Conn, org: &OrgId, id: &ProvisionId, now: Millis) -> DbResult<Option<Provision>> {
    conn.query_opt(
        concat!("SELECT ", effective_columns!(), " FROM provisions WHERE id = ?2 AND org_id = ?3"),
        &[&now, id, org],
        from_row,
    )
}

/// Moves a pending provision to `status` (cancelled or expired). Returns false when it was no
/// longer pending, so of two racing enders only one proceeds.
pub fn end(tx: &Tx, id: &ProvisionId, status: ProvisionStatus) -> DbResult<bool> {
    Ok(tx
        .execute("UPDATE provisions SET status = ?2 WHERE id = ?1 AND status = 'pending'", &[id, &status])?
        > 0)
}

/// The sweep, set-wise: marks up to `limit` pending provisions whose time is up `expired`
/// (oldest first; ties in creation order, which is also where their rows lie, see schema.sql,
/// Keys) and deletes their placeholder users with everything those own. Returns how many it
/// ended. One statement per table instead of one delete (and its cascades) per provision; the
/// children go first, so the foreign keys' cascades find nothing left to do.
/// A provision the sweep ended, for its record.
pub struct Expired {
    pub id: ProvisionId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub expires_at: Millis,
}

fn expired(r: &Row) -> DbResult<Expired> {
    Ok(Expired { id: r.get(0)?, org_id: r.get(1)?, user_id: r.get(2)?, expires_at: r.get(3)? })
}

pub fn expire_batch(tx: &Tx, now: Millis, limit: u32) -> DbResult<Vec<Expired>> {
    if tx.engine() == Engine::Postgres {
        return expire_batch_postgres(tx, now, limit);
    }
    // A scratch table of the batch's row numbers, in memory (see db::sqlite, temp_store).
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS sweep_batch (p INTEGER PRIMARY KEY, u INTEGER);
         DELETE FROM temp.sweep_batch;",
    )?;
    tx.execute(
        "INSERT INTO temp.sweep_batch (p, u)
         SELECT p.n, (SELECT u.n FROM users u WHERE u.id = p.user_id AND u.status = 'placeholder')
           FROM provisions p WHERE p.status = 'pending' AND p.expires_at <= ?1
          ORDER BY p.expires_at, p.n LIMIT ?2",
        &[&now, &i64::from(limit)],
    )?;
    let ended = tx.query_all(
        "SELECT id, org_id, user_id, expires_at FROM provisions WHERE n IN (SELECT p FROM temp.sweep_batch)",
        &[],
        expired,
    )?;
    if !ended.is_empty() {
        // The placeholders' keys are gone (they failed already, by their provision's expiry).
        tx.keys_changed();
    }
    for sql in [
        "UPDATE provisions SET status = 'expired' WHERE n IN (SELECT p FROM temp.sweep_batch)",
        "DELETE FROM agents WHERE project_n IN
            (SELECT j.n FROM projects j WHERE j.user_n IN (SELECT u FROM temp.sweep_batch))",
        "DELETE FROM api_keys WHERE user_n IN (SELECT u FROM temp.sweep_batch)",
        "DELETE FROM projects WHERE user_n IN (SELECT u FROM temp.sweep_batch)",
        "DELETE FROM memberships WHERE user_n IN (SELECT u FROM temp.sweep_batch)",
        "DELETE FROM users WHERE n IN (SELECT u FROM temp.sweep_batch)",
    ] {
        tx.execute(sql, &[])?;
    }
    Ok(ended)
}

/// The same on PostgreSQL, in one statement. `SKIP LOCKED`: replicas sweeping at the same time
/// take different provisions, never the same one twice (and never wait for each other). The
/// placeholders' agents, keys, projects and memberships are deleted set-wise before the users,
/// as on SQLite, so the foreign keys' cascades (which PostgreSQL runs row by row, a query per
/// deleted user and table) find nothing left to do. (Every data-modifying part of a WITH runs to
/// completion, read or not; all of them see the rows as the statement began.)
fn expire_batch_postgres(tx: &Tx, now: Millis, limit: u32) -> DbResult<Vec<Expired>> {
    let ended = tx.query_all(
        "WITH batch AS (
              SELECT n, user_id FROM provisions WHERE status = 'pending' AND expires_at <= ?1
               ORDER BY expires_at, n LIMIT ?2 FOR UPDATE SKIP LOCKED),
         ended AS (
              UPDATE provisions p SET status = 'expired' FROM batch WHERE p.n = batch.n
              RETURNING p.id, p.org_id, p.user_id, p.expires_at),
         placeholders AS (
              SELECT u.n FROM users u JOIN batch ON u.id = batch.user_id WHERE u.status = 'placeholder'),
         agents_gone AS (
              DELETE FROM agents a USING projects j, placeholders x WHERE a.project_n = j.n AND j.user_n = x.n),
         keys_gone AS (DELETE FROM api_keys k USING placeholders x WHERE k.user_n = x.n),
         projects_gone AS (DELETE FROM projects j USING placeholders x WHERE j.user_n = x.n),
         members_gone AS (DELETE FROM memberships m USING placeholders x WHERE m.user_n = x.n),
         users_gone AS (DELETE FROM users u USING placeholders x WHERE u.n = x.n)
         SELECT id, org_id, user_id, expires_at FROM ended",
        &[&now, &i64::from(limit)],
        expired,
    )?;
    if !ended.is_empty() {
        tx.keys_changed();
    }
    Ok(ended)
}

macro_rules! by_token_sql {
    () => {
        concat!(
            "SELECT ",
            columns!(),
            ", (SELECT name FROM organizations o WHERE o.id = p.org_id) FROM provisions p WHERE token_hash = ?1"
        )
    };
}

/// A provision by its claim token's hash, whatever its organization, with the stored status
/// (the caller applies expiry) and its organization's name.
pub fn by_token(conn: &Conn, token_hash: &[u8; 32]) -> DbResult<Option<(Provision, String)>> {
    conn.query_opt(by_token_sql!(), &[&&token_hash[..]], |r| Ok((from_row(r)?, r.get(AFTER_COLUMNS)?)))
}

/// `by_token` for a claim: the row is locked until the claim commits, so of concurrent claims
/// of one link on several replicas the later ones see it claimed instead of racing (on SQLite
/// the one writer does that already).
pub fn by_token_for_claim(tx: &Tx, token_hash: &[u8; 32]) -> DbResult<Option<(Provision, String)>> {
    let sql = match tx.engine() {
        Engine::Sqlite => by_token_sql!(),
        Engine::Postgres => concat!(by_token_sql!(), " FOR UPDATE OF p"),
    };
    tx.query_opt(sql, &[&&token_hash[..]], |r| Ok((from_row(r)?, r.get(AFTER_COLUMNS)?)))
}

/// Marks a pending provision claimed. False when it was no longer pending: of concurrent
/// claims, exactly one gets true.
pub fn mark_claimed(tx: &Tx, id: &ProvisionId, by: &UserId, now: Millis) -> DbResult<bool> {
    let n = tx.execute(
        "UPDATE provisions SET status = 'claimed', claimed_at = ?3, claimed_by = ?2 WHERE id = ?1 AND status = 'pending'",
        &[id, by, &now],
    )?;
    Ok(n > 0)
}

/// A new claim token (the old one stops matching at once) and expiry for a pending provision.
/// False when it was no longer pending.
/// A new link (a new token; a new link may make its one account).
pub fn renew_link(tx: &Tx, id: &ProvisionId, token_hash: &[u8; 32], expires_at: Millis) -> DbResult<bool> {
    let n = tx.execute(
        "UPDATE provisions SET token_hash = ?2, expires_at = ?3, signed_up = NULL WHERE id = ?1 AND status = 'pending'",
        &[id, &&token_hash[..], &expires_at],
    )?;
    Ok(n > 0)
}

/// Records that `user` signed up through this pending provision's link; false when an account
/// was made through it already (one link, one account) or it is no longer pending.
pub fn take_signup(tx: &Tx, id: &ProvisionId, user: &UserId) -> DbResult<bool> {
    let n = tx.execute(
        "UPDATE provisions SET signed_up = ?2 WHERE id = ?1 AND status = 'pending' AND signed_up IS NULL",
        &[id, user],
    )?;
    Ok(n > 0)
}

/// Moves a placeholder's key deadline with its provision's expiry (see schema.sql, users).
pub fn set_placeholder_until(tx: &Tx, user: &UserId, until: Millis) -> DbResult<()> {
    // The placeholder's keys now fail at another time.
    tx.keys_changed();
    tx.execute(
        "UPDATE users SET pending_until = ?2 WHERE id = ?1 AND status = 'placeholder'",
        &[user, &until],
    )?;
    Ok(())
}
