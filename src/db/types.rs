//! How domain values are written to and read from the database. Reading is parsing: a stored
//! value the schema does not allow is an error (an error), never a guess.

use crate::domain::{
    AgentId, Credits, Domain, KeyN, OrgId, ProjectId, ProjectN, ProvisionId, ProvisionStatus, Role, UserId,
    UserN,
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
text_id!(OrgId, UserId, ProjectId, ProvisionId, AgentId);

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
