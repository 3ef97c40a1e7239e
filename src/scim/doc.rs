//! What the OpenAPI document says of the SCIM bodies (schemathesis reads it). SCIM resources
//! are open JSON objects (RFC 7643: a provider may send attributes the server ignores), so the
//! document names what must be there and leaves the rest open; `/Schemas` is the real account.

use std::borrow::Cow;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::RefOr;

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Type(Type::String))
}

fn integer() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer))
}

/// An optional attribute: null means unassigned (RFC 7643 §2.5), as leaving it out does.
fn nullable(t: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([t, Type::Null]))
}

fn open_object() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
}

/// A list that may also be null (unassigned).
fn list() -> ArrayBuilder {
    ArrayBuilder::new().schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
}

fn strings() -> ArrayBuilder {
    ArrayBuilder::new().items(string())
}

/// A name the server keeps: 1 to 255 characters, not only spaces, no control characters.
fn name() -> ObjectBuilder {
    string().min_length(Some(1)).max_length(Some(255)).pattern(Some(
        "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
    ))
}

/// A boolean, or the strings Entra ID sends for one ("True", "False", in any case), or null.
fn boolean() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(nullable(Type::Boolean))
        .item(string().pattern(Some("^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$")))
        .into()
}

/// Text the server keeps: at most 2048 characters, no NUL; or null.
fn text() -> ObjectBuilder {
    nullable(Type::String).max_length(Some(2048)).pattern(Some("^[^\\u0000]*$"))
}

macro_rules! schema {
    ($name:ident, $doc:literal, $build:expr) => {
        #[doc = $doc]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $build
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

schema!(
    ScimResource,
    "A SCIM resource as served (`application/scim+json`).",
    open_object()
        .required("schemas")
        .property("schemas", strings())
        .property("id", string())
        .property("meta", open_object())
        .into()
);

schema!(
    ScimList,
    "A ListResponse (RFC 7644 §3.4.2).",
    open_object()
        .required("schemas")
        .required("totalResults")
        .property("schemas", strings())
        .property("totalResults", integer().minimum(Some(0)))
        .property("startIndex", integer().minimum(Some(1)))
        .property("itemsPerPage", integer().minimum(Some(0)))
        .property("Resources", ArrayBuilder::new().items(<ScimResource as utoipa::PartialSchema>::schema()))
        .into()
);

schema!(
    ScimErrorBody,
    "A SCIM error (RFC 7644 §3.12).",
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .required("schemas")
        .required("status")
        .property("schemas", strings())
        .property("status", string().description(Some("The HTTP status, as a string.")))
        .property(
            "scimType",
            string().enum_values(Some([
                "invalidFilter",
                "tooMany",
                "uniqueness",
                "mutability",
                "invalidSyntax",
                "invalidPath",
                "noTarget",
                "invalidValue",
                "invalidVers",
                "sensitive",
            ])),
        )
        .property("detail", string())
        .into()
);

schema!(
    ScimUser,
    "A User to create or replace: `userName` is required; docs/scim.md says which attributes are kept and how they map.",
    open_object()
        .required("userName")
        .property("schemas", strings())
        .property("userName", name())
        .property("externalId", text())
        .property("displayName", text())
        .property("active", boolean())
        .property(
            "emails",
            list().items(
                open_object()
                    .property("value", text())
                    .property("type", text())
                    .property("primary", boolean()),
            ),
        )
        .into()
);

schema!(
    ScimGroup,
    "A Group to create or replace: `displayName`, and members by User id.",
    open_object()
        .required("displayName")
        .property("schemas", strings())
        .property("displayName", name())
        .property("externalId", text())
        .property(
            "members",
            list().items(
                open_object()
                    .required("value")
                    .property("value", string())
                    .property("type", string().enum_values(Some(["User"]))),
            ),
        )
        .into()
);

schema!(
    ScimPatch,
    "A PatchOp (RFC 7644 §3.5.2), in Okta's or Entra ID's dialect.",
    open_object()
        .required("Operations")
        .property("schemas", strings())
        .property(
            "Operations",
            ArrayBuilder::new().min_items(Some(1)).max_items(Some(1000)).items(
                open_object()
                    .required("op")
                    .property(
                        "op",
                        string().pattern(Some(
                            "^([Aa][Dd][Dd]|[Rr][Ee][Pp][Ll][Aa][Cc][Ee]|[Rr][Ee][Mm][Oo][Vv][Ee])$"
                        ))
                    )
                    .property("path", nullable(Type::String).min_length(Some(1)).pattern(Some("\\S"))),
            ),
        )
        .into()
);

schema!(
    ScimSearch,
    "A SearchRequest (RFC 7644 §3.4.3).",
    open_object()
        .property("schemas", strings())
        .property("filter", nullable(Type::String))
        .property("startIndex", nullable(Type::Integer))
        .property("count", nullable(Type::Integer))
        .property("attributes", list().items(string()))
        .property("excludedAttributes", list().items(string()))
        .into()
);

/// The query of a list (RFC 7644 §3.4.2).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // read from the query string by hand (`ListQuery`); here for the document.
pub struct ListParams {
    /// e.g. `userName eq "alice@example.com"` (eq, ne, co, sw, ew, gt, ge, lt, le, pr, and, or,
    /// not, parentheses, `attr[filter]`).
    filter: Option<String>,
    /// 1-based; less than 1 reads as 1.
    start_index: Option<i64>,
    /// At most 1000 (more reads as 1000; less than 0 as 0).
    count: Option<i64>,
    /// Comma-separated attributes to return (and `id`).
    attributes: Option<String>,
    /// Comma-separated attributes to leave out.
    excluded_attributes: Option<String>,
}
