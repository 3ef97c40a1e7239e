//! PATCH (RFC 7644 §3.5.2) as Okta and Entra ID send it, applied to a resource as it is served;
//! the result is read again as a whole resource (`schema::read_resource`), so a PATCH can leave
//! nothing a PUT could not. Both dialects: `op` in any case (`Replace`), a value object without a
//! path (`{"op":"replace","value":{"active":false}}`, also with `name.givenName` and `urn:…:`
//! keys), `attr[filter].sub` paths that make the value they name when it is missing
//! (`emails[type eq "work"].value`), `members[value eq "…"]`, and removing members listed in
//! `value` (Entra ID's `{"op":"Remove","path":"members","value":[{"value":"…"}]}`).

use super::filter::{self, Filter, Op, Scope, Target};
use super::schema::{bad, Bad, Mutability, Resource, Type};
use serde_json::{Map, Value};

/// Most operations one request may carry.
const MAX_OPERATIONS: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Add,
    Replace,
    Remove,
}

/// What a path names.
enum Path {
    /// The extension's whole object.
    Extension,
    Attr(Target),
    /// `attr[filter]` and `attr[filter].sub`.
    Values {
        target: Target,
        filter: Filter,
        sub: Option<&'static super::schema::Attr>,
    },
}

fn parse_path(resource: Resource, text: &str) -> Result<Path, Bad> {
    let invalid = |m: String| bad("invalidPath", m);
    if let Some((uri, _)) = resource.extension() {
        if text.eq_ignore_ascii_case(uri) {
            return Ok(Path::Extension);
        }
    }
    let Some(open) = text.find('[') else {
        let t = filter::resolve(Scope::Top(resource), text).map_err(invalid)?;
        return Ok(Path::Attr(t));
    };
    let close =
        text.rfind(']').filter(|c| *c > open).ok_or_else(|| invalid(format!("'{text}': no closing ']'.")))?;
    let target = filter::resolve(Scope::Top(resource), &text[..open]).map_err(invalid)?;
    if !target.attr.multi || target.sub.is_some() {
        return Err(invalid(format!("'{}' has no values to select with [ ].", &text[..open])));
    }
    let filter = filter::parse_in(Scope::Within(target.attr), &text[open + 1..close])
        .map_err(|m| bad("invalidFilter", m))?;
    let sub = match &text[close + 1..] {
        "" => None,
        rest => {
            let name = rest
                .strip_prefix('.')
                .ok_or_else(|| invalid(format!("'{text}': expected '.' after ']'.")))?;
            Some(super::schema::find(target.attr.sub, name).ok_or_else(|| {
                invalid(format!("'{name}' is not a sub-attribute of '{}'.", target.attr.name))
            })?)
        }
    };
    Ok(Path::Values { target, filter, sub })
}

/// The object an attribute lives in: the resource, or its extension's object (made on demand).
fn holder(doc: &mut Map<String, Value>, resource: Resource, ext: bool) -> &mut Map<String, Value> {
    match resource.extension() {
        Some((uri, _)) if ext => {
            let slot = doc.entry(uri.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            slot.as_object_mut().expect("made an object above")
        }
        _ => doc,
    }
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        one => vec![one.clone()],
    }
}

/// Whether two values of a multi-valued attribute are the same one (by `value` when they have it).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// For a filter `sub eq "v"` (in any case): the value it asks for, so an add or replace can make it.
fn wanted_by(f: &Filter) -> Option<(&'static str, Value)> {
    match f {
        Filter::Compare(t, Op::Eq, v) => Some((t.attr.name, v.clone())),
        _ => None,
    }
}

fn apply_attr(
    doc: &mut Map<String, Value>,
    resource: Resource,
    kind: Kind,
    t: Target,
    value: Option<&Value>,
) -> Result<(), Bad> {
    if t.attr.mutability == Mutability::ReadOnly
        || t.sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
    {
        return Err(bad("mutability", format!("'{}' is read-only.", t.attr.name)));
    }
    let h = holder(doc, resource, t.ext);
    let name = t.attr.name;
    if kind == Kind::Remove {
        match (t.sub, h.get_mut(name)) {
            (None, Some(Value::Array(items))) if value.is_some() => {
                let gone = as_list(value.unwrap_or(&Value::Null));
                items.retain(|i| !gone.iter().any(|g| same_value(i, g)));
            }
            (None, _) => {
                h.remove(name);
            }
            (Some(s), Some(Value::Array(items))) => {
                for i in items.iter_mut().filter_map(Value::as_object_mut) {
                    i.remove(s.name);
                }
            }
            (Some(s), Some(Value::Object(o))) => {
                o.remove(s.name);
            }
            (Some(_), _) => {}
        }
        return Ok(());
    }
    let value = value.ok_or_else(|| bad("invalidValue", format!("'{}' needs a value.", name)))?.clone();
    match t.sub {
        None if t.attr.multi => {
            let new = as_list(&value);
            let slot = h.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            if kind == Kind::Replace || !slot.is_array() {
                *slot = Value::Array(new);
            } else if let Value::Array(items) = slot {
                for v in new {
                    if !items.iter().any(|i| same_value(i, &v)) {
                        items.push(v);
                    }
                }
            }
        }
        None if t.attr.ty == Type::Complex && kind == Kind::Add => match (h.get_mut(name), &value) {
            (Some(Value::Object(o)), Value::Object(new)) => o.extend(new.clone()),
            _ => {
                h.insert(name.to_string(), value);
            }
        },
        None => {
            h.insert(name.to_string(), value);
        }
        Some(s) => {
            let slot = h.entry(name).or_insert_with(|| {
                if t.attr.multi {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                }
            });
            match slot {
                Value::Array(items) if items.is_empty() => {
                    items.push(Value::Object(Map::from_iter([(s.name.to_string(), value)])));
                }
                Value::Array(items) => {
                    for i in items.iter_mut().filter_map(Value::as_object_mut) {
                        i.insert(s.name.to_string(), value.clone());
                    }
                }
                Value::Object(o) => {
                    o.insert(s.name.to_string(), value);
                }
                other => *other = Value::Object(Map::from_iter([(s.name.to_string(), value)])),
            }
        }
    }
    Ok(())
}

fn apply_values(
    doc: &mut Map<String, Value>,
    resource: Resource,
    kind: Kind,
    (target, filter, sub): (Target, Filter, Option<&'static super::schema::Attr>),
    value: Option<&Value>,
) -> Result<(), Bad> {
    let h = holder(doc, resource, target.ext);
    let slot = h.entry(target.attr.name).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    let Value::Array(items) = slot else { return Ok(()) };
    let hits: Vec<usize> =
        (0..items.len()).filter(|i| items[*i].as_object().is_some_and(|o| filter.matches(o))).collect();
    if kind == Kind::Remove {
        match sub {
            None => {
                let mut i = 0;
                items.retain(|_| {
                    i += 1;
                    !hits.contains(&(i - 1))
                });
            }
            Some(s) => {
                for i in hits {
                    if let Some(o) = items[i].as_object_mut() {
                        o.remove(s.name);
                    }
                }
            }
        }
        return Ok(());
    }
    let value = value.ok_or_else(|| bad("invalidValue", "This operation needs a value."))?;
    if hits.is_empty() {
        // Entra ID adds `emails[type eq "work"].value` to a User that has no work address yet.
        let (key, v) = wanted_by(&filter).ok_or_else(|| {
            bad("noTarget", format!("No value of '{}' matches the filter.", target.attr.name))
        })?;
        let mut made = Map::from_iter([(key.to_string(), v)]);
        match (sub, value) {
            (Some(s), v) => {
                made.insert(s.name.to_string(), v.clone());
            }
            (None, Value::Object(o)) => made.extend(o.clone()),
            (None, _) => return Err(bad("invalidValue", "A value of a complex attribute is an object.")),
        }
        items.push(Value::Object(made));
        return Ok(());
    }
    for i in hits {
        match (sub, &mut items[i]) {
            (Some(s), Value::Object(o)) => {
                o.insert(s.name.to_string(), value.clone());
            }
            (None, Value::Object(o)) if kind == Kind::Add => {
                if let Value::Object(new) = value {
                    o.extend(new.clone());
                }
            }
            (None, slot) => *slot = value.clone(),
            _ => {}
        }
    }
    Ok(())
}

/// `value` of an operation without a path: each key is a path of its own (an attribute, a
/// dotted sub-attribute, a `urn:…:` one, or the extension's URI with an object).
fn apply_object(
    doc: &mut Map<String, Value>,
    resource: Resource,
    kind: Kind,
    value: &Value,
) -> Result<(), Bad> {
    let Value::Object(fields) = value else {
        return Err(bad("invalidValue", "Without a 'path', 'value' must be an object of attributes."));
    };
    for (key, v) in fields {
        // Okta sends the group's id back with a rename; neither it nor a password is taken.
        if ["schemas", "id", "meta", "password"].iter().any(|k| key.eq_ignore_ascii_case(k)) {
            continue;
        }
        match parse_path(resource, key)? {
            Path::Extension => apply_object(doc, resource, kind, &extension_keys(resource, v)?)?,
            Path::Attr(t) => apply_attr(doc, resource, kind, t, Some(v))?,
            Path::Values { .. } => {
                return Err(bad("invalidPath", format!("'{key}' cannot be a key of 'value'.")))
            }
        }
    }
    Ok(())
}

/// The extension's object as `urn:…:name` keys, so each is applied as its own path.
fn extension_keys(resource: Resource, v: &Value) -> Result<Value, Bad> {
    let (uri, _) =
        resource.extension().ok_or_else(|| bad("invalidPath", "This resource has no extension."))?;
    let Value::Object(fields) = v else {
        return Err(bad("invalidValue", format!("'{uri}' must be an object.")));
    };
    // A client may send the extension as a whole resource fragment, with its own `schemas`.
    Ok(Value::Object(
        fields
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("schemas"))
            .map(|(k, x)| (format!("{uri}:{k}"), x.clone()))
            .collect(),
    ))
}

/// Applies a PatchOp request body to `doc` (the resource as served).
pub fn apply(resource: Resource, doc: &mut Map<String, Value>, body: &Map<String, Value>) -> Result<(), Bad> {
    let ops = body
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .map(|(_, v)| v)
        .and_then(Value::as_array)
        .ok_or_else(|| bad("invalidSyntax", "A PATCH body is {\"schemas\": [\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"], \"Operations\": [...]}."))?;
    if ops.is_empty() || ops.len() > MAX_OPERATIONS {
        return Err(bad("invalidValue", format!("'Operations' must hold 1 to {MAX_OPERATIONS} operations.")));
    }
    for (i, op) in ops.iter().enumerate() {
        let op = op
            .as_object()
            .ok_or_else(|| bad("invalidSyntax", format!("Operations[{i}] must be an object.")))?;
        let field = |name: &str| op.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let kind = match field("op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
            Some("add") => Kind::Add,
            Some("replace") => Kind::Replace,
            Some("remove") => Kind::Remove,
            _ => {
                return Err(bad(
                    "invalidSyntax",
                    format!("Operations[{i}].op must be add, replace or remove."),
                ))
            }
        };
        let value = field("value").filter(|v| !v.is_null());
        let path = match field("path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) if !p.trim().is_empty() => Some(p.trim()),
            Some(_) => {
                return Err(bad("invalidPath", format!("Operations[{i}].path must be a non-empty string.")))
            }
        };
        match path {
            None if kind == Kind::Remove => {
                return Err(bad("noTarget", format!("Operations[{i}]: a remove needs a 'path'.")));
            }
            None => apply_object(doc, resource, kind, value.unwrap_or(&Value::Null))?,
            Some(p) => match parse_path(resource, p)? {
                Path::Extension if kind == Kind::Remove => {
                    if let Some((uri, _)) = resource.extension() {
                        doc.remove(uri);
                    }
                }
                Path::Extension => {
                    let v = value.ok_or_else(|| bad("invalidValue", "This operation needs a value."))?;
                    if kind == Kind::Replace {
                        if let Some((uri, _)) = resource.extension() {
                            doc.remove(uri);
                        }
                    }
                    apply_object(doc, resource, kind, &extension_keys(resource, v)?)?;
                }
                Path::Attr(t) => apply_attr(doc, resource, kind, t, value)?,
                Path::Values { target, filter, sub } => {
                    apply_values(doc, resource, kind, (target, filter, sub), value)?
                }
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{read_resource, ENTERPRISE};
    use serde_json::json;

    fn patched(resource: Resource, doc: Value, ops: Value) -> Result<Value, Bad> {
        let mut doc = doc.as_object().unwrap().clone();
        let body = json!({"schemas": [crate::scim::schema::PATCH_OP], "Operations": ops});
        apply(resource, &mut doc, body.as_object().unwrap())?;
        Ok(Value::Object(read_resource(resource, &doc)?))
    }

    fn alice() -> Value {
        json!({"userName": "alice", "active": true, "emails": [{"value": "alice@x.com", "type": "work", "primary": true}]})
    }

    #[test]
    fn okta_and_entra_deactivate_alike() {
        let okta =
            patched(Resource::User, alice(), json!([{"op": "replace", "value": {"active": false}}])).unwrap();
        assert_eq!(okta["active"], false);
        let entra =
            patched(Resource::User, alice(), json!([{"op": "Replace", "path": "active", "value": "False"}]))
                .unwrap();
        assert_eq!(entra["active"], false);
        let back =
            patched(Resource::User, okta, json!([{"op": "REPLACE", "path": "active", "value": "True"}]))
                .unwrap();
        assert_eq!(back["active"], true);
    }

    #[test]
    fn entra_paths_make_what_they_name() {
        let ops = json!([
            {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "a@home.org"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice@y.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Alice"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m1"},
            {"op": "Replace", "value": {"name.familyName": "Liddell", "displayName": "Alice L"}},
        ]);
        let got = patched(Resource::User, alice(), ops).unwrap();
        assert_eq!(got["emails"][0]["value"], "alice@y.com");
        assert_eq!(got["emails"][1], json!({"type": "home", "value": "a@home.org"}));
        assert_eq!(got["name"], json!({"givenName": "Alice", "familyName": "Liddell"}));
        assert_eq!(got[ENTERPRISE], json!({"department": "R&D", "manager": {"value": "m1"}}));
        assert_eq!(got["displayName"], "Alice L");
    }

    #[test]
    fn group_members_both_ways() {
        let group = json!({"displayName": "Eng", "members": [{"value": "a"}, {"value": "b"}]});
        let okta = json!([
            {"op": "add", "path": "members", "value": [{"value": "c", "display": "C"}, {"value": "a"}]},
            {"op": "remove", "path": "members[value eq \"b\"]"},
        ]);
        let got = patched(Resource::Group, group.clone(), okta).unwrap();
        assert_eq!(got["members"], json!([{"value": "a"}, {"value": "c"}]));
        let entra = json!([{"op": "Remove", "path": "members", "value": [{"value": "a"}]}]);
        assert_eq!(
            patched(Resource::Group, group.clone(), entra).unwrap()["members"],
            json!([{"value": "b"}])
        );
        let rename = json!([{"op": "replace", "value": {"id": "g1", "displayName": "Engineering"}}]);
        assert_eq!(patched(Resource::Group, group.clone(), rename).unwrap()["displayName"], "Engineering");
        let all = json!([{"op": "replace", "path": "members", "value": [{"value": "z"}]}]);
        assert_eq!(patched(Resource::Group, group, all).unwrap()["members"], json!([{"value": "z"}]));
    }

    #[test]
    fn bad_operations_are_scim_errors() {
        let cases = [
            (json!([{"op": "replace", "path": "nosuch", "value": 1}]), "invalidPath"),
            (
                json!([{"op": "replace", "path": "emails[nosuch eq \"x\"].value", "value": 1}]),
                "invalidFilter",
            ),
            (json!([{"op": "remove"}]), "noTarget"),
            (json!([{"op": "move", "path": "userName"}]), "invalidSyntax"),
            (json!([{"op": "replace", "path": "id", "value": "x"}]), "mutability"),
            (json!([{"op": "replace", "path": "active", "value": "maybe"}]), "invalidValue"),
            (json!([{"op": "replace", "value": "not an object"}]), "invalidValue"),
            (json!([]), "invalidValue"),
        ];
        for (ops, scim_type) in cases {
            let e = patched(Resource::User, alice(), ops.clone())
                .err()
                .unwrap_or_else(|| panic!("{ops} refused"));
            assert_eq!(e.scim_type, scim_type, "{ops}: {}", e.detail);
        }
    }
}
