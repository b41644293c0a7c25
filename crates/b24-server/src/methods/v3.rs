//! The methods of REST 3.0 (`/rest/api/…`, spec "REST 3.0"): a table of its own, apart from
//! [`super::METHODS`], because REST 3.0 serves only the methods migrated to it. A name that is
//! only a v2 method (`server.time`, `crm.item.list`, …) is `METHODNOTFOUNDEXCEPTION` there, as on
//! the real service. Of what REST 3.0 defines, this server serves what it can serve truthfully:
//! `batch` in its 3.0 form, `rest.scope.list` (alias `scopes`) and `rest.documentation.openapi`
//! (alias `documentation`). A method added here gets authentication, scopes, both limiters, fault
//! rules and the journal from the same [`super::authenticate_and_dispatch`] as v2.
//! Sources: docs `api-reference/rest-v3.md`, `settings/how-to-call-rest-api/batch-v3.md`; the
//! core's `CRestApiServer` (`rest/classes/general/RestApiServer.php`).

use super::{Call, Handler, MethodSpec, Output, Params};
use crate::error::ApiError;
use b24_protocol::values::php_truthy;
use b24_protocol::{ErrorCode, RestError};
use serde_json::{json, Map, Value};

/// REST 3.0 `batch`: a JSON array of `{method, query, as?}` run one after another, later items
/// able to use earlier results through `{"$ref": "name.path"}` and `{"$refArray":
/// "name.field"}`. Unlike v2's, it is one method for the operating-time limiter (the core counts
/// the batch, not its items); each item still needs its own scope. Any failing item fails the
/// whole batch: the answer is that item's error, nothing else.
pub const BATCH: MethodSpec = MethodSpec {
    name: "batch",
    scope: None,
    handler: Handler::Blocking(batch),
    doc: "REST 3.0 batch: a JSON array of {method, query, as}; $ref and $refArray link items.",
};

/// `rest.documentation.openapi` (alias `documentation`).
pub const DOCUMENTATION: MethodSpec = MethodSpec {
    name: "rest.documentation.openapi",
    scope: None,
    handler: Handler::Blocking(documentation),
    doc: "Retrieves documentation in Open API format.",
};

/// `rest.scope.list` (alias `scopes`).
pub const SCOPE_LIST: MethodSpec = MethodSpec {
    name: "rest.scope.list",
    scope: None,
    handler: Handler::Blocking(scope_list),
    doc: "Retrieves all available scopes for the app.",
};

/// Every REST 3.0 method this server serves.
pub static V3_METHODS: &[MethodSpec] = &[BATCH, DOCUMENTATION, SCOPE_LIST];

/// Short names the core routes to a method (`rest` module settings, `routes`).
const ALIASES: &[(&str, &str)] = &[
    ("documentation", "rest.documentation.openapi"),
    ("scopes", "rest.scope.list"),
];

/// The REST 3.0 method a name calls (aliases resolved, case ignored).
pub fn lookup(name: &str) -> Option<&'static MethodSpec> {
    let name = name.to_ascii_lowercase();
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name.as_str(), |(_, target)| target);
    V3_METHODS.iter().find(|m| m.name == name)
}

/// Whether a method answers its document as the whole body, without `result` and `time` (the
/// core's `setShowRawData(true)` + `setShowDebugInfo(false)`).
pub fn answers_raw(spec: &MethodSpec) -> bool {
    spec.name == DOCUMENTATION.name
}

/// `Method "x" was not found.`
pub fn method_not_found(method: &str) -> RestError {
    RestError::with_message(
        ErrorCode::V3MethodNotFound,
        format!("Method \"{method}\" was not found."),
    )
}

fn invalid_select(detail: &str) -> ApiError {
    RestError::with_message(
        ErrorCode::V3InvalidSelect,
        format!("Unable to parse select expression `{detail}`"),
    )
    .into()
}

/// One item of a 3.0 batch.
struct Item<'a> {
    method: &'a str,
    query: &'a Value,
    alias: Option<&'a str>,
}

/// The items, checked as the core's `BatchRequest` checks them, then every method looked up
/// before anything runs (`getBatchMethodDescriptions`): an unknown method fails the batch whole.
fn items(params: &Params) -> Result<Vec<(Item<'_>, &'static MethodSpec)>, ApiError> {
    let mut items = Vec::new();
    for value in params.0.values() {
        let (Some(method), Some(query)) = (value.get("method"), value.get("query")) else {
            return Err(invalid_select(
                "Each request item must have a \"method\" and \"query\" attribute",
            ));
        };
        let method = method.as_str().unwrap_or_default();
        let alias = value
            .get("as")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty());
        if let Some(alias) = alias {
            if items.iter().any(|i: &Item<'_>| i.alias == Some(alias)) {
                return Err(invalid_select(&format!(
                    "You are can not have two aliases with same name: {alias}"
                )));
            }
        }
        items.push(Item {
            method,
            query,
            alias,
        });
    }
    items
        .into_iter()
        .map(|item| {
            // A batch inside a batch is not supported: it is not among the methods an item can name.
            let spec = lookup(item.method)
                .filter(|spec| spec.name != BATCH.name)
                .ok_or_else(|| method_not_found(item.method))?;
            Ok((item, spec))
        })
        .collect()
}

fn batch(call: &Call<'_>) -> Result<Output, ApiError> {
    let mut context = Map::new();
    let mut results = Vec::new();
    for (index, (item, spec)) in items(call.params)?.into_iter().enumerate() {
        let query = match resolve(item.query, &context)? {
            Value::Object(map) => map,
            Value::Array(list) => list
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            _ => Map::new(),
        };
        if !super::allowed(call.caller, spec) {
            return Err(call.caller.insufficient_scope().into());
        }
        let Some(handler) = spec.handler.function() else {
            return Err(method_not_found(item.method).into());
        };
        let output = handler(&Call {
            state: call.state,
            caller: call.caller,
            params: &Params(query),
        })?;
        // Later items see an item's `item` or `items` under its name (or its index).
        let key = item.alias.map_or_else(|| index.to_string(), str::to_string);
        if let Some(found) = ["item", "items"]
            .iter()
            .find_map(|k| output.result.get(k).filter(|v| php_truthy(v)))
        {
            context.insert(key, found.clone());
        }
        results.push(output.result);
    }
    Ok(Output::result(Value::Array(results)))
}

/// Replaces `{"$ref": …}` and `{"$refArray": …}` anywhere in an item's query with values from
/// the earlier items (the core's `prepareJsonData`, with its messages).
fn resolve(value: &Value, context: &Map<String, Value>) -> Result<Value, ApiError> {
    match value {
        Value::Object(map) => {
            if let Some(path) = map.get("$ref").filter(|v| !v.is_null()) {
                return path_value(&php_string(path), context).cloned();
            }
            if let Some(reference) = map.get("$refArray").filter(|v| !v.is_null()) {
                return ref_array(reference, context);
            }
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve(v, context)?)))
                .collect::<Result<Map<_, _>, _>>()
                .map(Value::Object)
        }
        Value::Array(list) => list
            .iter()
            .map(|v| resolve(v, context))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

fn php_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The value at a dotted path (`first_task.id`, `1.id`); a step through something that is not
/// an array, or to a key that is absent or null, fails.
fn path_value<'c>(path: &str, context: &'c Map<String, Value>) -> Result<&'c Value, ApiError> {
    let mut steps = path.split('.');
    let first = steps.next().unwrap_or_default();
    let mut current = context
        .get(first)
        .filter(|v| !v.is_null())
        .ok_or_else(|| invalid_select(&format!("Path '{path}' not found in context")))?;
    for key in steps {
        let next = match current {
            Value::Object(map) => map.get(key),
            Value::Array(list) => key.parse::<usize>().ok().and_then(|i| list.get(i)),
            _ => {
                return Err(invalid_select(&format!(
                    "Invalid context path '{path}' - expected array at '{key}'"
                )))
            }
        };
        current = next
            .filter(|v| !v.is_null())
            .ok_or_else(|| invalid_select(&format!("Path '{path}' not found in context")))?;
    }
    Ok(current)
}

/// `{"$refArray": "list.field"}`: the field of every row of an earlier list.
fn ref_array(reference: &Value, context: &Map<String, Value>) -> Result<Value, ApiError> {
    let Value::String(reference) = reference else {
        return Err(invalid_select("Invalid $refArray value - expected string"));
    };
    let Some((path, field)) = reference.rsplit_once('.') else {
        return Err(invalid_select(
            "Invalid $refArray format - expected 'path.to.array.field'",
        ));
    };
    let rows: Vec<&Value> = match path_value(path, context)? {
        Value::Array(list) => list.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => {
            return Err(invalid_select(&format!(
                "Path '{path}' must point to an array or iterable"
            )))
        }
    };
    rows.into_iter()
        .map(|row| {
            let value = match row {
                Value::Object(map) => map.get(field),
                Value::Array(list) => field.parse::<usize>().ok().and_then(|i| list.get(i)),
                _ => {
                    return Err(invalid_select(&format!(
                        "Items in '{path}' must be arrays or objects"
                    )))
                }
            };
            value
                .filter(|v| !v.is_null())
                .cloned()
                .ok_or_else(|| invalid_select(&format!("Field '{field}' not found in items")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// The method-to-scope map: module → controller → method, for methods that need a scope
/// (methods open to every caller are left out, as the core leaves out `_global`). Filters
/// `filterModule`, `filterController`, `filterMethod` keep matching entries.
fn scope_list(call: &Call<'_>) -> Result<Output, ApiError> {
    let filter = |name: &str| call.params.get(name).and_then(Value::as_str);
    let mut modules = Map::new();
    for spec in V3_METHODS {
        let Some(scope) = spec.scope else { continue };
        if filter("filterModule").is_some_and(|m| m != scope)
            || filter("filterController").is_some_and(|c| c != "*")
            || filter("filterMethod").is_some_and(|m| m != "*")
        {
            continue;
        }
        modules.insert(
            scope.to_string(),
            json!({"*": {"*": {
                "scope": scope,
                "title": "Get all module methods",
                "description": "Retrieves all available methods provided by all controllers of this module.",
                "fields": null,
            }}}),
        );
    }
    // PHP's empty array is a JSON list.
    let result = if modules.is_empty() {
        json!([])
    } else {
        Value::Object(modules)
    };
    Ok(Output::result(result))
}

/// An OpenAPI 3.0 document of the REST 3.0 methods served here (what `paths` lists is what a
/// client may call).
fn documentation(_call: &Call<'_>) -> Result<Output, ApiError> {
    let mut paths = Map::new();
    let names = V3_METHODS
        .iter()
        .map(|m| (m.name, m))
        .chain(ALIASES.iter().filter_map(|(alias, target)| {
            V3_METHODS
                .iter()
                .find(|m| m.name == *target)
                .map(|m| (*alias, m))
        }));
    for (name, spec) in names {
        let module = spec.name.split('.').next().unwrap_or(spec.name);
        let tag = if module == "batch" { "rest" } else { module };
        paths.insert(
            format!("/{name}"),
            json!({"post": {
                "tags": [tag],
                "summary": spec.doc,
                "operationId": name,
                "responses": {"200": {"description": "OK"}},
            }}),
        );
    }
    Ok(Output::result(json!({
        "openapi": "3.0.0",
        "info": {"title": "Bitrix24 REST V3 API", "version": "1.0.0"},
        "tags": [{"name": "rest", "description": "rest module methods"}],
        "paths": paths,
        "components": {"schemas": {}},
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Map<String, Value> {
        json!({
            "first": {"id": 7, "title": "A", "tags": [1, 2]},
            "1": [{"id": 1}, {"id": 2}],
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn message(e: ApiError) -> (String, String) {
        let rest = e.to_rest();
        (rest.code.wire().to_string(), rest.message.to_string())
    }

    #[test]
    fn refs_are_replaced_at_any_depth() {
        let query = json!({"id": {"$ref": "first.id"},
                           "filter": [["id", "in", [5, {"$ref": "first.tags.1"}]]],
                           "ids": {"$refArray": "1.id"}});
        assert_eq!(
            resolve(&query, &context()).unwrap(),
            json!({"id": 7, "filter": [["id", "in", [5, 2]]], "ids": [1, 2]})
        );
    }

    #[test]
    fn a_ref_to_nothing_fails_with_the_cores_messages() {
        let cases = [
            (
                json!({"$ref": "first.item.id"}),
                "Path 'first.item.id' not found in context",
            ),
            (json!({"$ref": "nope"}), "Path 'nope' not found in context"),
            (
                json!({"$ref": "first.id.x"}),
                "Invalid context path 'first.id.x' - expected array at 'x'",
            ),
            (
                json!({"$refArray": 5}),
                "Invalid $refArray value - expected string",
            ),
            (
                json!({"$refArray": "first"}),
                "Invalid $refArray format - expected 'path.to.array.field'",
            ),
            (
                json!({"$refArray": "first.id.x"}),
                "Path 'first.id' must point to an array or iterable",
            ),
            (
                json!({"$refArray": "1.title"}),
                "Field 'title' not found in items",
            ),
        ];
        for (query, detail) in cases {
            let (code, text) = message(resolve(&query, &context()).unwrap_err());
            assert_eq!(code, "BITRIX_REST_V3_EXCEPTION_INVALIDSELECTEXCEPTION");
            assert_eq!(
                text,
                format!("Unable to parse select expression `{detail}`")
            );
        }
    }

    #[test]
    fn aliases_and_case_reach_the_same_method_and_v2_names_are_not_v3_methods() {
        assert_eq!(
            lookup("documentation").unwrap().name,
            "rest.documentation.openapi"
        );
        assert_eq!(
            lookup("rest.documentation.openApi").unwrap().name,
            "rest.documentation.openapi"
        );
        assert_eq!(lookup("scopes").unwrap().name, "rest.scope.list");
        assert!(lookup("server.time").is_none());
        assert!(lookup("crm.item.list").is_none());
    }
}
