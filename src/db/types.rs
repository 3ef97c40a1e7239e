//! How domain values are written to and read from the database. Reading is parsing: a stored
//! value the schema does not allow is an error (an error), never a guess.

use crate::domain::{
    AgentId, AuditId, Credits, Domain, KeyId, KeyN, OrgId, ProjectId, ProjectN, ProvisionId, ProvisionStatus,
    Role, UserId, UserN, WebhookId,
};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

macro_rules! text_id {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
        impl FromSql for $t {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                String::column_result(v).map(<$t>::from_stored)
            }
        }
    )*};
}
text_id!(OrgId, UserId, ProjectId, ProvisionId, AgentId, KeyId, WebhookId, AuditId);

macro_rules! row_number {
    ($($t:ident),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.0))
            }
        }
        impl FromSql for $t {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                i64::column_result(v).map($t)
            }
        }
    )*};
}
row_number!(UserN, ProjectN, KeyN);

fn corrupt(what: &str, got: &str) -> FromSqlError {
    FromSqlError::Other(format!("{what} '{got}' is not one the schema allows").into())
}

impl ToSql for Role {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}
impl FromSql for Role {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        Role::parse(s).ok_or_else(|| corrupt("role", s))
    }
}

impl ToSql for ProvisionStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}
impl FromSql for ProvisionStatus {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        ProvisionStatus::parse(s).ok_or_else(|| corrupt("provision status", s))
    }
}

impl ToSql for Credits {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.thousandths()))
    }
}
impl FromSql for Credits {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(v).map(Credits::from_thousandths)
    }
}

impl ToSql for Domain {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}
impl FromSql for Domain {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        Domain::parse(s).map_err(|_| corrupt("domain", s))
    }
}

/// The same values on PostgreSQL: ids and enums as TEXT, row numbers and credits as BIGINT.
mod pg {
    use crate::domain::{
        AgentId, AuditId, Credits, Domain, KeyId, KeyN, OrgId, ProjectId, ProjectN, ProvisionId,
        ProvisionStatus, Role, UserId, UserN, WebhookId,
    };
    use bytes::BytesMut;
    use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
    use std::error::Error;

    type Outcome<T> = Result<T, Box<dyn Error + Sync + Send>>;

    /// Values stored as text: written as their text, read by parsing it.
    trait Text: Sized {
        fn text(&self) -> &str;
        fn parse_text(s: &str) -> Outcome<Self>;
    }

    macro_rules! as_text {
        ($($t:ty),*) => {$(
            impl ToSql for $t {
                fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Outcome<IsNull> {
                    self.text().to_sql(ty, out)
                }
                fn accepts(ty: &Type) -> bool {
                    <&str as ToSql>::accepts(ty)
                }
                to_sql_checked!();
            }
            impl<'a> FromSql<'a> for $t {
                fn from_sql(ty: &Type, raw: &'a [u8]) -> Outcome<Self> {
                    <$t as Text>::parse_text(<&str as FromSql>::from_sql(ty, raw)?)
                }
                fn accepts(ty: &Type) -> bool {
                    <&str as FromSql>::accepts(ty)
                }
            }
        )*};
    }

    fn corrupt(what: &str, got: &str) -> Box<dyn Error + Sync + Send> {
        format!("{what} '{got}' is not one the schema allows").into()
    }

    macro_rules! text_id {
        ($($t:ty),*) => {$(
            impl Text for $t {
                fn text(&self) -> &str {
                    self.as_str()
                }
                fn parse_text(s: &str) -> Outcome<Self> {
                    Ok(<$t>::from_stored(s.to_string()))
                }
            }
        )*};
    }
    text_id!(OrgId, UserId, ProjectId, ProvisionId, AgentId, KeyId, WebhookId, AuditId);

    impl Text for Role {
        fn text(&self) -> &str {
            self.as_str()
        }
        fn parse_text(s: &str) -> Outcome<Self> {
            Role::parse(s).ok_or_else(|| corrupt("role", s))
        }
    }

    impl Text for ProvisionStatus {
        fn text(&self) -> &str {
            self.as_str()
        }
        fn parse_text(s: &str) -> Outcome<Self> {
            ProvisionStatus::parse(s).ok_or_else(|| corrupt("provision status", s))
        }
    }

    impl Text for Domain {
        fn text(&self) -> &str {
            self.as_str()
        }
        fn parse_text(s: &str) -> Outcome<Self> {
            Domain::parse(s).map_err(|_| corrupt("domain", s))
        }
    }

    as_text!(
        OrgId,
        UserId,
        ProjectId,
        ProvisionId,
        AgentId,
        KeyId,
        WebhookId,
        AuditId,
        Role,
        ProvisionStatus,
        Domain
    );

    /// Values stored as BIGINT.
    macro_rules! as_bigint {
        ($t:ty, $to:expr, $from:expr) => {
            impl ToSql for $t {
                fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Outcome<IsNull> {
                    let n: i64 = $to(self);
                    n.to_sql(ty, out)
                }
                fn accepts(ty: &Type) -> bool {
                    <i64 as ToSql>::accepts(ty)
                }
                to_sql_checked!();
            }
            impl<'a> FromSql<'a> for $t {
                fn from_sql(ty: &Type, raw: &'a [u8]) -> Outcome<Self> {
                    Ok($from(i64::from_sql(ty, raw)?))
                }
                fn accepts(ty: &Type) -> bool {
                    <i64 as FromSql>::accepts(ty)
                }
            }
        };
    }
    as_bigint!(UserN, |v: &UserN| v.0, UserN);
    as_bigint!(ProjectN, |v: &ProjectN| v.0, ProjectN);
    as_bigint!(KeyN, |v: &KeyN| v.0, KeyN);
    as_bigint!(Credits, |v: &Credits| v.thousandths(), Credits::from_thousandths);
}
