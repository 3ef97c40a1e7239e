//! Copying every row from one database to another (`provisiond migrate-to-postgres`): each
//! table's columns with their kinds, read from one engine and written to the other as they are,
//! internal row numbers included, then compared row by row.

use crate::db::{Conn, DbResult, Param, Row, Tx};

/// The kind of a column's values.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Text,
    Blob,
    Bool,
}

/// A value as it is stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
    Bool(bool),
}

/// A table, its columns (the first ones are its key: rows are compared in that order), and
/// whether it has an identity column `n` whose sequence must continue after the copied rows.
pub struct Table {
    pub name: &'static str,
    columns: &'static [(&'static str, Kind)],
    key: usize,
    identity: Option<&'static str>,
}

use Kind::*;

/// Every table that holds data, parents before children. The rate limits and failed log-ins
/// are left out: they are minutes old and start over.
pub const TABLES: &[Table] = &[
    Table {
        name: "organizations",
        columns: &[
            ("id", Text),
            ("name", Text),
            ("domain", Text),
            ("credits_granted", Int),
            ("credits_used", Int),
            ("created_at", Int),
            ("credits_alert", Int),
            ("webhook_events", Text),
        ],
        key: 1,
        identity: None,
    },
    Table {
        name: "users",
        columns: &[
            ("n", Int),
            ("id", Text),
            ("email", Text),
            ("status", Text),
            ("api_only", Bool),
            ("password_hash", Text),
            ("name", Text),
            ("pending_until", Int),
            ("created_at", Int),
            ("email_verified", Bool),
        ],
        key: 1,
        identity: Some("n"),
    },
    Table {
        name: "memberships",
        columns: &[
            ("user_n", Int),
            ("org_id", Text),
            ("role", Text),
            ("is_provisioner", Bool),
            ("created_at", Int),
            ("suspended_at", Int),
        ],
        key: 2,
        identity: None,
    },
    Table {
        name: "projects",
        columns: &[
            ("n", Int),
            ("id", Text),
            ("org_id", Text),
            ("user_n", Int),
            ("name", Text),
            ("created_at", Int),
        ],
        key: 1,
        identity: Some("n"),
    },
    Table {
        name: "api_keys",
        columns: &[
            ("n", Int),
            ("hash", Blob),
            ("hint", Text),
            ("user_n", Int),
            ("org_id", Text),
            ("project_n", Int),
            ("created_at", Int),
            ("revoked_at", Int),
            ("last_used_at", Int),
            ("role", Text),
            ("id", Text),
            ("name", Text),
            ("scopes", Text),
            ("expires_at", Int),
        ],
        key: 1,
        identity: Some("n"),
    },
    Table {
        name: "agents",
        columns: &[
            ("project_n", Int),
            ("identifier", Text),
            ("id", Text),
            ("name", Text),
            ("parent_identifier", Text),
            ("created_at", Int),
        ],
        key: 2,
        identity: None,
    },
    Table {
        name: "provisions",
        columns: &[
            ("n", Int),
            ("id", Text),
            ("org_id", Text),
            ("user_id", Text),
            ("project_id", Text),
            ("agent_id", Text),
            ("role", Text),
            ("skip_onboarding", Bool),
            ("status", Text),
            ("token_hash", Blob),
            ("created_by", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("claimed_at", Int),
            ("claimed_by", Text),
            ("email", Text),
            ("name", Text),
            ("external_id", Text),
            ("metadata", Text),
            ("signed_up", Text),
        ],
        key: 1,
        identity: Some("n"),
    },
    Table {
        name: "credit_ledger",
        columns: &[
            ("id", Int),
            ("org_id", Text),
            ("user_id", Text),
            ("kind", Text),
            ("amount", Int),
            ("reason", Text),
            ("created_at", Int),
        ],
        key: 1,
        identity: Some("id"),
    },
    Table {
        name: "sessions",
        columns: &[
            ("token_hash", Blob),
            ("user_id", Text),
            ("active_org_id", Text),
            ("created_at", Int),
            ("expires_at", Int),
        ],
        key: 1,
        identity: None,
    },
    Table {
        name: "email_tokens",
        columns: &[
            ("token_hash", Blob),
            ("user_id", Text),
            ("purpose", Text),
            ("email", Text),
            ("created_at", Int),
            ("expires_at", Int),
        ],
        key: 1,
        identity: None,
    },
    Table {
        name: "shown_results",
        columns: &[
            ("id_hash", Blob),
            ("user_id", Text),
            ("title", Text),
            ("sealed", Blob),
            ("created_at", Int),
        ],
        key: 1,
        identity: None,
    },
    Table {
        name: "idempotency",
        columns: &[
            ("owner", Text),
            ("route", Text),
            ("key", Text),
            ("body_hash", Blob),
            ("status", Int),
            ("response", Text),
            ("created_at", Int),
        ],
        key: 3,
        identity: None,
    },
    Table {
        name: "credit_limits",
        columns: &[
            ("org_id", Text),
            ("user_id", Text),
            ("period", Text),
            ("amount", Int),
            ("used", Int),
            ("window_start", Int),
        ],
        key: 2,
        identity: None,
    },
    Table { name: "key_epoch", columns: &[("id", Int), ("epoch", Int)], key: 1, identity: None },
    Table {
        name: "audit_log",
        columns: &[
            ("n", Int),
            ("id", Text),
            ("org_id", Text),
            ("action", Text),
            ("actor_type", Text),
            ("actor_id", Text),
            ("actor_email", Text),
            ("target_type", Text),
            ("target_id", Text),
            ("ip", Text),
            ("user_agent", Text),
            ("details", Text),
            ("created_at", Int),
        ],
        key: 1,
        identity: Some("n"),
    },
    // PostgreSQL's `xid` column is left to its default: the copy is one transaction, so the
    // copied events keep their order by n.
    Table {
        name: "events",
        columns: &[
            ("n", Int),
            ("id", Text),
            ("org_id", Text),
            ("type", Text),
            ("data", Text),
            ("created_at", Int),
            ("audit_n", Int),
        ],
        key: 1,
        identity: Some("n"),
    },
    Table {
        name: "webhooks",
        columns: &[
            ("n", Int),
            ("id", Text),
            ("org_id", Text),
            ("url", Text),
            ("events", Text),
            ("description", Text),
            ("enabled", Bool),
            ("disabled_reason", Text),
            ("secret", Blob),
            ("previous_secret", Blob),
            ("previous_until", Int),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        key: 1,
        identity: Some("n"),
    },
    Table {
        name: "webhook_deliveries",
        columns: &[
            ("n", Int),
            ("webhook_n", Int),
            ("event_n", Int),
            ("status", Text),
            ("attempts", Int),
            ("next_at", Int),
            ("last_status", Int),
            ("last_error", Text),
            ("last_at", Int),
            ("created_at", Int),
            ("leased_until", Int),
        ],
        key: 1,
        identity: Some("n"),
    },
    Table {
        name: "webhook_attempts",
        columns: &[
            ("delivery_n", Int),
            ("attempt", Int),
            ("at", Int),
            ("status", Int),
            ("error", Text),
            ("response", Text),
        ],
        key: 2,
        identity: None,
    },
    Table {
        name: "key_verifications",
        columns: &[("key_n", Int), ("day", Int), ("valid", Int), ("refused", Int)],
        key: 2,
        identity: None,
    },
    Table {
        name: "provision_terms",
        columns: &[("org_id", Text), ("term", Text), ("provision_n", Int)],
        key: 3,
        identity: None,
    },
    Table {
        name: "scim_users",
        columns: &[
            ("user_n", Int),
            ("org_id", Text),
            ("user_name", Text),
            ("user_name_key", Text),
            ("external_id", Text),
            ("attributes", Text),
            ("account_made_at", Int),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        key: 2,
        identity: None,
    },
    Table {
        name: "scim_groups",
        columns: &[
            ("n", Int),
            ("id", Text),
            ("org_id", Text),
            ("display_name", Text),
            ("display_key", Text),
            ("external_id", Text),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        key: 1,
        identity: Some("n"),
    },
    Table {
        name: "scim_group_members",
        columns: &[("group_n", Int), ("user_n", Int), ("org_id", Text)],
        key: 2,
        identity: None,
    },
    Table {
        name: "scim_settings",
        columns: &[("org_id", Text), ("admin_group", Text), ("updated_at", Int)],
        key: 1,
        identity: None,
    },
];

impl Table {
    fn names(&self) -> String {
        self.columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
    }

    fn read(&self, r: &Row) -> DbResult<Vec<Value>> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| {
                Ok(match kind {
                    Int => r.get::<Option<i64>>(i)?.map_or(Value::Null, Value::Int),
                    Text => r.get::<Option<String>>(i)?.map_or(Value::Null, Value::Text),
                    Blob => r.get::<Option<Vec<u8>>>(i)?.map_or(Value::Null, Value::Blob),
                    Bool => r.get::<Option<bool>>(i)?.map_or(Value::Null, Value::Bool),
                })
            })
            .collect()
    }

    /// Every row, in key order.
    pub fn rows(&self, conn: &Conn) -> DbResult<Vec<Vec<Value>>> {
        let key = self.columns[..self.key].iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT {} FROM {} ORDER BY {key}", self.names(), self.name);
        conn.query_all(&sql, &[], |r| self.read(r))
    }

    /// Writes `rows` as they are (`key_epoch`'s one row is updated, not inserted).
    pub fn write(&self, tx: &Tx, rows: &[Vec<Value>]) -> DbResult<()> {
        if self.name == "key_epoch" {
            for row in rows {
                if let Some(Value::Int(epoch)) = row.get(1) {
                    tx.execute("UPDATE key_epoch SET epoch = ?1 WHERE id = 1", &[epoch])?;
                }
            }
            return Ok(());
        }
        let marks = (1..=self.columns.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let sql = format!("INSERT INTO {} ({}) VALUES ({marks})", self.name, self.names());
        for row in rows {
            let params: Vec<&dyn Param> = row.iter().map(|v| v as &dyn Param).collect();
            tx.execute(&sql, &params)?;
        }
        if let Some(column) = self.identity {
            // The next row made gets a number after the copied ones.
            tx.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', '{column}'), COALESCE((SELECT MAX({column}) FROM {0}), 0) + 1, FALSE)",
                    self.name
                ),
                &[],
            )?;
        }
        Ok(())
    }
}

/// How a `Value` is written: as its own kind, or as NULL.
mod encode {
    use super::Value;
    use bytes::BytesMut;
    use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
    use rusqlite::types::{ToSqlOutput, Value as Lite};

    impl rusqlite::ToSql for Value {
        fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
            Ok(ToSqlOutput::Owned(match self {
                Value::Null => Lite::Null,
                Value::Int(n) => Lite::Integer(*n),
                Value::Text(s) => Lite::Text(s.clone()),
                Value::Blob(b) => Lite::Blob(b.clone()),
                Value::Bool(b) => Lite::Integer(i64::from(*b)),
            }))
        }
    }

    impl ToSql for Value {
        fn to_sql(
            &self,
            ty: &Type,
            out: &mut BytesMut,
        ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
            match self {
                Value::Null => Ok(IsNull::Yes),
                Value::Int(n) => n.to_sql(ty, out),
                Value::Text(s) => s.to_sql(ty, out),
                Value::Blob(b) => b.to_sql(ty, out),
                Value::Bool(b) => b.to_sql(ty, out),
            }
        }
        // Each column's kind is fixed in `TABLES`, matching both schemas.
        fn accepts(_: &Type) -> bool {
            true
        }
        to_sql_checked!();
    }
}
