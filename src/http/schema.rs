//! OpenAPI schemas drawn from the domain's own lists, so the document cannot drift from what the
//! server accepts: an event type's name and a scope's name are strings from `EventType::ALL` and
//! `Scope::ALL` (request fields carry them as strings; the domain parses them).

use crate::domain::{EventType, Scope};
use std::borrow::Cow;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;

fn names(described: &str, names: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some(described))
        .enum_values(Some(names.into_iter().collect::<Vec<_>>()))
        .into()
}

/// An event type's name, or `*` for every type.
pub struct EventName;

impl utoipa::PartialSchema for EventName {
    fn schema() -> RefOr<Schema> {
        names(
            "An event type, or `*` (alone) for every type.",
            std::iter::once("*").chain(EventType::ALL.map(EventType::as_str)),
        )
    }
}

impl utoipa::ToSchema for EventName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EventName")
    }
}

/// A scope's name (`scim` among them).
pub struct ScopeName;

impl utoipa::PartialSchema for ScopeName {
    fn schema() -> RefOr<Schema> {
        names("A scope: the routes a key reaches.", Scope::NAMED.map(Scope::as_str))
    }
}

/// What a new key may reach: API scopes, or `["scim"]` alone (an owner's SCIM token).
pub struct KeyScopes;

impl utoipa::PartialSchema for KeyScopes {
    fn schema() -> RefOr<Schema> {
        let api = ArrayBuilder::new()
            .min_items(Some(1))
            .items(names("An API scope: the routes a key reaches.", Scope::ALL.map(Scope::as_str)));
        let scim = ArrayBuilder::new().min_items(Some(1)).max_items(Some(1)).items(names(
            "The SCIM token's one scope (owners only): /scim/v2 and nothing else.",
            [Scope::Scim.as_str()],
        ));
        OneOfBuilder::new().item(api).item(scim).into()
    }
}

impl utoipa::ToSchema for KeyScopes {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("KeyScopes")
    }
}

impl utoipa::ToSchema for ScopeName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ScopeName")
    }
}
