//! The SCIM schemas provisiond serves (RFC 7643): User with the enterprise extension, Group, and
//! the discovery schemas. One table of attributes drives everything about them: what `/Schemas`
//! publishes, how an incoming resource is read (names case-insensitive, types checked, Entra
//! ID's "True"/"False" strings read as booleans, read-only attributes ignored), which paths a
//! PATCH or a filter may name, and how values compare (caseExact).

use serde_json::{json, Map, Value};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const SPC: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Reference,
    Complex,
    DateTime,
    Integer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    ReadOnly,
    Immutable,
}

/// One attribute of a schema, with RFC 7643's characteristics.
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub ty: Type,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub unique: bool,
    pub canonical: &'static [&'static str],
    pub refs: &'static [&'static str],
    pub sub: &'static [Attr],
    pub description: &'static str,
}

const fn text(name: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        ty: Type::String,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        unique: false,
        canonical: &[],
        refs: &[],
        sub: &[],
        description,
    }
}

const fn flag(name: &'static str, description: &'static str) -> Attr {
    Attr { ty: Type::Boolean, ..text(name, description) }
}

const fn complex(name: &'static str, sub: &'static [Attr], description: &'static str) -> Attr {
    Attr { ty: Type::Complex, sub, ..text(name, description) }
}

const fn many(name: &'static str, sub: &'static [Attr], description: &'static str) -> Attr {
    Attr { multi: true, ..complex(name, sub, description) }
}

const fn read_only(a: Attr) -> Attr {
    Attr { mutability: Mutability::ReadOnly, ..a }
}

/// A multi-valued attribute's usual sub-attributes: a value, a label, its kind and which is primary.
macro_rules! valued {
    ($kinds:expr) => {
        &[
            text("value", "The value."),
            text("display", "A label for the value."),
            Attr { canonical: $kinds, ..text("type", "What kind of value it is.") },
            flag("primary", "The preferred value (at most one is)."),
        ]
    };
}

pub const USER_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        unique: true,
        ..text(
            "userName",
            "The provider's unique name for the person in this organization (compared case-insensitively). A member the provider never touched goes by their address.",
        )
    },
    complex(
        "name",
        &[
            text("formatted", "The full name."),
            text("familyName", "The family name."),
            text("givenName", "The given name."),
            text("middleName", "The middle name."),
            text("honorificPrefix", "A title before the name."),
            text("honorificSuffix", "A suffix after the name."),
        ],
        "The person's name.",
    ),
    text("displayName", "The name shown for the person."),
    text("nickName", "A casual name."),
    Attr { ty: Type::Reference, refs: &["external"], ..text("profileUrl", "A profile page.") },
    text("title", "Their title."),
    text("userType", "How the provider classes them."),
    text("preferredLanguage", "Their preferred language."),
    text("locale", "Their locale."),
    text("timezone", "Their time zone."),
    flag("active", "false: deactivated. Their keys and sessions in the organization are refused; true restores the membership, not the keys revoked."),
    many(
        "emails",
        valued!(&["work", "home", "other"]),
        "Their addresses; the primary one (else the first) is the account's address when the provider made the account.",
    ),
    many("phoneNumbers", valued!(&["work", "home", "mobile", "fax", "pager", "other"]), "Their phone numbers."),
    many(
        "addresses",
        &[
            text("formatted", "The full address."),
            text("streetAddress", "The street."),
            text("locality", "The city."),
            text("region", "The region or state."),
            text("postalCode", "The postal code."),
            text("country", "The country."),
            Attr { canonical: &["work", "home", "other"], ..text("type", "What kind of address it is.") },
            flag("primary", "The preferred address."),
        ],
        "Their postal addresses.",
    ),
];

pub const ENTERPRISE_ATTRS: &[Attr] = &[
    text("employeeNumber", "Their employee number."),
    text("costCenter", "Their cost center."),
    text("organization", "Their organization."),
    text("division", "Their division."),
    text("department", "Their department."),
    complex(
        "manager",
        &[
            Attr { case_exact: true, ..text("value", "The manager's id.") },
            Attr { ty: Type::Reference, refs: &["User"], ..text("$ref", "The manager's User.") },
            read_only(text("displayName", "The manager's name.")),
        ],
        "Their manager.",
    ),
];

pub const GROUP_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        unique: true,
        ..text("displayName", "The group's name (unique in the organization, case-insensitively).")
    },
    Attr {
        multi: true,
        ..complex(
            "members",
            &[
                Attr {
                    case_exact: true,
                    mutability: Mutability::Immutable,
                    ..text("value", "The member's User id.")
                },
                Attr {
                    ty: Type::Reference,
                    refs: &["User"],
                    mutability: Mutability::Immutable,
                    ..text("$ref", "The member's User.")
                },
                Attr {
                    canonical: &["User"],
                    mutability: Mutability::Immutable,
                    ..text("type", "Always User: groups hold Users.")
                },
            ],
            "The group's members: Users of the organization.",
        )
    },
];

const SPC_ATTRS: &[Attr] = &[
    read_only(Attr {
        ty: Type::Reference,
        refs: &["external"],
        ..text("documentationUri", "Where the service is documented.")
    }),
    read_only(complex("patch", &[read_only(flag("supported", "Whether PATCH is."))], "PATCH.")),
    read_only(complex("bulk", &[read_only(flag("supported", "Whether bulk is."))], "Bulk operations.")),
    read_only(complex("filter", &[read_only(flag("supported", "Whether filters are."))], "Filters.")),
    read_only(complex(
        "changePassword",
        &[read_only(flag("supported", "Whether it is."))],
        "Changing passwords.",
    )),
    read_only(complex("sort", &[read_only(flag("supported", "Whether sorting is."))], "Sorting.")),
    read_only(complex("etag", &[read_only(flag("supported", "Whether ETags are."))], "ETags.")),
    read_only(many(
        "authenticationSchemes",
        &[
            read_only(text("type", "The scheme.")),
            read_only(text("name", "Its name.")),
            read_only(text("description", "What it is.")),
        ],
        "How to authenticate.",
    )),
];

const RESOURCE_TYPE_ATTRS: &[Attr] = &[
    read_only(text("id", "The resource type's id.")),
    read_only(Attr { required: true, ..text("name", "Its name.") }),
    read_only(text("description", "What it is.")),
    read_only(Attr {
        required: true,
        ty: Type::Reference,
        refs: &["uri"],
        ..text("endpoint", "Where it is served.")
    }),
    read_only(Attr {
        required: true,
        ty: Type::Reference,
        refs: &["uri"],
        ..text("schema", "Its core schema.")
    }),
    read_only(many(
        "schemaExtensions",
        &[
            read_only(Attr {
                ty: Type::Reference,
                refs: &["uri"],
                ..text("schema", "The extension's schema.")
            }),
            read_only(flag("required", "Whether a resource must have it.")),
        ],
        "Its extensions.",
    )),
];

const SCHEMA_ATTRS: &[Attr] = &[
    read_only(text("id", "The schema's URI.")),
    read_only(text("name", "Its name.")),
    read_only(text("description", "What it is.")),
    read_only(many(
        "attributes",
        &[read_only(text("name", "The attribute's name.")), read_only(text("type", "Its type."))],
        "Its attributes.",
    )),
];

/// A schema: its URI, name and attributes.
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attrs: &'static [Attr],
}

pub const SCHEMAS: [Schema; 6] = [
    Schema { id: USER, name: "User", description: "A member of the organization.", attrs: USER_ATTRS },
    Schema {
        id: ENTERPRISE,
        name: "EnterpriseUser",
        description: "The enterprise extension of a User.",
        attrs: ENTERPRISE_ATTRS,
    },
    Schema {
        id: GROUP,
        name: "Group",
        description: "A group of the organization's members.",
        attrs: GROUP_ATTRS,
    },
    Schema {
        id: SPC,
        name: "ServiceProviderConfig",
        description: "What this service supports.",
        attrs: SPC_ATTRS,
    },
    Schema {
        id: RESOURCE_TYPE,
        name: "ResourceType",
        description: "The resources served.",
        attrs: RESOURCE_TYPE_ATTRS,
    },
    Schema {
        id: SCHEMA,
        name: "Schema",
        description: "The schemas of the resources served.",
        attrs: SCHEMA_ATTRS,
    },
];

/// The two resources served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    User,
    Group,
}

impl Resource {
    pub fn name(self) -> &'static str {
        match self {
            Resource::User => "User",
            Resource::Group => "Group",
        }
    }

    pub fn core(self) -> &'static str {
        match self {
            Resource::User => USER,
            Resource::Group => GROUP,
        }
    }

    pub fn attrs(self) -> &'static [Attr] {
        match self {
            Resource::User => USER_ATTRS,
            Resource::Group => GROUP_ATTRS,
        }
    }

    /// Its extension's URI and attributes, if it has one.
    pub fn extension(self) -> Option<(&'static str, &'static [Attr])> {
        match self {
            Resource::User => Some((ENTERPRISE, ENTERPRISE_ATTRS)),
            Resource::Group => None,
        }
    }
}

/// The attributes every resource has (RFC 7643 §3.1): `id`, `externalId`, `meta`.
pub const COMMON: &[Attr] = &[
    read_only(Attr { case_exact: true, ..text("id", "The id provisiond gave it.") }),
    Attr { case_exact: true, ..text("externalId", "The provider's own id for it.") },
    read_only(complex(
        "meta",
        &[
            read_only(text("resourceType", "User or Group.")),
            read_only(Attr { ty: Type::DateTime, ..text("created", "When it was made.") }),
            read_only(Attr { ty: Type::DateTime, ..text("lastModified", "When it last changed.") }),
            read_only(Attr { ty: Type::Reference, refs: &["uri"], ..text("location", "Its URI.") }),
        ],
        "About the resource.",
    )),
];

/// An attribute by name, case-insensitively (RFC 7643 §2.1).
pub fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// An attribute of a resource: its core attributes and the common ones.
pub fn find_top(resource: Resource, name: &str) -> Option<&'static Attr> {
    find(resource.attrs(), name).or_else(|| find(COMMON, name))
}

/// Why a value was refused: a SCIM error type and a sentence.
#[derive(Debug)]
pub struct Bad {
    pub scim_type: &'static str,
    pub detail: String,
}

pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Bad {
    Bad { scim_type, detail: detail.into() }
}

/// A value of `attr` as a client sent it, checked and in its own form: booleans also from the
/// strings "true"/"false" in any case (Entra ID sends "False"), a multi-valued attribute also from
/// a single value, complex values with their sub-attributes' names in the schema's spelling
/// (unknown sub-attributes and read-only ones dropped). None: unassigned (null, or read-only).
pub fn value_of(attr: &Attr, v: &Value, at: &str) -> Result<Option<Value>, Bad> {
    if v.is_null() || attr.mutability == Mutability::ReadOnly {
        return Ok(None);
    }
    if attr.multi {
        let Value::Array(items) = v else {
            return Err(bad("invalidValue", format!("'{at}' must be a list.")));
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if item.is_null() || (attr.ty == Type::Complex && !item.is_object()) {
                return Err(bad("invalidValue", format!("'{at}[{i}]' must be an object.")));
            }
            if let Some(x) = single(attr, item, &format!("{at}[{i}]"))? {
                out.push(x);
            }
        }
        return Ok(if out.is_empty() { None } else { Some(Value::Array(out)) });
    }
    single(attr, v, at)
}

fn single(attr: &Attr, v: &Value, at: &str) -> Result<Option<Value>, Bad> {
    let wrong = |what: &str| bad("invalidValue", format!("'{at}' must be {what}."));
    Ok(match attr.ty {
        _ if v.is_null() => None,
        Type::Boolean => Some(Value::Bool(match v {
            Value::Bool(b) => *b,
            Value::String(s) if s.eq_ignore_ascii_case("true") => true,
            Value::String(s) if s.eq_ignore_ascii_case("false") => false,
            _ => return Err(wrong("true or false")),
        })),
        Type::String | Type::Reference | Type::DateTime => match v {
            // No database keeps a NUL in text (PostgreSQL refuses it): refused here, as bad input.
            Value::String(s) if s.contains('\0') => return Err(wrong("text without NUL characters")),
            Value::String(s) if s.chars().count() <= 2048 => Some(Value::String(s.clone())),
            Value::String(_) => return Err(wrong("at most 2048 characters")),
            _ => return Err(wrong("a string")),
        },
        Type::Integer => match v {
            Value::Number(n) if n.is_i64() => Some(v.clone()),
            _ => return Err(wrong("an integer")),
        },
        Type::Complex => {
            // Entra ID sends a manager as the bare value.
            let wrapped;
            let v = match v {
                Value::String(_) if !attr.multi && find(attr.sub, "value").is_some() => {
                    wrapped = json!({ "value": v });
                    &wrapped
                }
                v => v,
            };
            let Value::Object(fields) = v else { return Err(wrong("an object")) };
            let mut out = Map::new();
            for (k, x) in fields {
                let Some(sub) = find(attr.sub, k) else { continue };
                if let Some(x) = value_of(sub, x, &format!("{at}.{}", sub.name))? {
                    out.insert(sub.name.to_string(), x);
                }
            }
            if out.is_empty() {
                None
            } else {
                Some(Value::Object(out))
            }
        }
    })
}

/// A resource as a client sent it (POST, PUT, or what a PATCH left), in its own form: the core
/// attributes and `externalId` by their schema names, the extension under its URI (also from
/// `urn:…:User:department` keys). Unknown attributes are ignored, as RFC 7644 lets a service
/// provider do; read-only ones (`id`, `meta`, `groups`) too, and a `password` is never taken.
pub fn read_resource(resource: Resource, body: &Map<String, Value>) -> Result<Map<String, Value>, Bad> {
    let mut out = Map::new();
    let mut ext = Map::new();
    for (key, v) in body {
        if let Some((uri, attrs)) = resource.extension() {
            if key.eq_ignore_ascii_case(uri) {
                let Value::Object(fields) = v else {
                    if v.is_null() {
                        continue;
                    }
                    return Err(bad("invalidValue", format!("'{uri}' must be an object.")));
                };
                for (k, x) in fields {
                    if let Some(a) = find(attrs, k) {
                        if let Some(x) = value_of(a, x, a.name)? {
                            ext.insert(a.name.to_string(), x);
                        }
                    }
                }
                continue;
            }
            if let Some(name) = strip_urn(key, uri) {
                if let Some(a) = find(attrs, name) {
                    if let Some(x) = value_of(a, v, a.name)? {
                        ext.insert(a.name.to_string(), x);
                    }
                }
                continue;
            }
        }
        let name = strip_urn(key, resource.core()).unwrap_or(key);
        if let Some(a) = find_top(resource, name) {
            if let Some(x) = value_of(a, v, a.name)? {
                out.insert(a.name.to_string(), x);
            }
        }
    }
    if !ext.is_empty() {
        if let Some((uri, _)) = resource.extension() {
            out.insert(uri.to_string(), Value::Object(ext));
        }
    }
    Ok(out)
}

/// `urn:…:User:department` → `department`, when `key` is `uri` followed by `:` and a name.
pub fn strip_urn<'a>(key: &'a str, uri: &str) -> Option<&'a str> {
    let head = key.get(..uri.len())?;
    if head.eq_ignore_ascii_case(uri) {
        key[uri.len()..].strip_prefix(':')
    } else {
        None
    }
}

fn attr_json(a: &Attr) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": match a.ty {
            Type::String => "string",
            Type::Boolean => "boolean",
            Type::Reference => "reference",
            Type::Complex => "complex",
            Type::DateTime => "dateTime",
            Type::Integer => "integer",
        },
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": match a.mutability {
            Mutability::ReadWrite => "readWrite",
            Mutability::ReadOnly => "readOnly",
            Mutability::Immutable => "immutable",
        },
        "returned": "default",
        "uniqueness": if a.unique { "server" } else { "none" },
    });
    if !a.canonical.is_empty() {
        v["canonicalValues"] = json!(a.canonical);
    }
    if !a.refs.is_empty() {
        v["referenceTypes"] = json!(a.refs);
    }
    if !a.sub.is_empty() {
        v["subAttributes"] = Value::Array(a.sub.iter().map(attr_json).collect());
    }
    v
}

/// A schema as `/Schemas` serves it.
pub fn schema_json(s: &Schema, base: &str) -> Value {
    json!({
        "schemas": [SCHEMA],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": s.attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", s.id)},
    })
}

/// The resource types as `/ResourceTypes` serves them.
pub fn resource_type_json(r: Resource, base: &str) -> Value {
    let mut v = json!({
        "schemas": [RESOURCE_TYPE],
        "id": r.name(),
        "name": r.name(),
        "description": match r {
            Resource::User => "The organization's members.",
            Resource::Group => "Groups of the organization's members.",
        },
        "endpoint": format!("/{}s", r.name()),
        "schema": r.core(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", r.name())},
    });
    if let Some((uri, _)) = r.extension() {
        v["schemaExtensions"] = json!([{"schema": uri, "required": false}]);
    }
    v
}

/// What the service supports (RFC 7643 §5).
pub fn service_provider_config(base: &str, docs: &str) -> Value {
    json!({
        "schemas": [SPC],
        "documentationUri": docs,
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": crate::service::scim::MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "An API key with the scim scope, made by an owner of the organization (POST /v1/keys {\"scopes\": [\"scim\"]}, or the SCIM page).",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_is_read_in_the_schema_spelling_with_entra_booleans_and_urn_keys() {
        let body = json!({
            "schemas": [USER, ENTERPRISE],
            "USERNAME": "alice@x.com",
            "Active": "False",
            "emails": [{"Value": "alice@x.com", "primary": "True", "unknown": 1}],
            "password": "never kept",
            "id": "ignored",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D",
            ENTERPRISE: {"employeeNumber": "7"},
        });
        let got = read_resource(Resource::User, body.as_object().unwrap()).unwrap();
        assert_eq!(got["userName"], "alice@x.com");
        assert_eq!(got["active"], false);
        assert_eq!(got["emails"], json!([{"value": "alice@x.com", "primary": true}]));
        assert_eq!(got[ENTERPRISE], json!({"department": "R&D", "employeeNumber": "7"}));
        assert!(!got.contains_key("password") && !got.contains_key("id"));
        let wrong = json!({"userName": "a", "active": "maybe"});
        let e = read_resource(Resource::User, wrong.as_object().unwrap()).unwrap_err();
        assert_eq!(e.scim_type, "invalidValue");
        assert!(e.detail.contains("'active'"), "{}", e.detail);
    }
}
