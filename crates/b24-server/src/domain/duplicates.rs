//! `crm.duplicate.findbycomm` (the legacy `CCrmDuplicateRestProxy`: errors `"error": ""` and the
//! text): which leads, contacts and companies carry one of the given phones or e-mails. Values
//! are compared normalised ([`normalise`]): phones by their digits without the extension,
//! e-mails without case. The store keeps every item's normalised communications in
//! `crm_communications`, rewritten with each item write, so a search is an index look-up.

use super::access::can;
use super::{Action, EntityTypeId, Level, Permissions};
use crate::error::ApiError;
use crate::store::Tx;
use b24_protocol::{ErrorCode, RestError};
use serde_json::{Map, Value};

/// The kinds of communication the search knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommunicationKind {
    /// `PHONE`.
    Phone,
    /// `EMAIL`.
    Email,
}

impl CommunicationKind {
    /// The multi-field (and `type` parameter) name.
    pub fn as_str(self) -> &'static str {
        match self {
            CommunicationKind::Phone => "PHONE",
            CommunicationKind::Email => "EMAIL",
        }
    }
}

/// The types whose items carry phones and e-mails, in the order the search answers them.
pub const SEARCHED_TYPES: [(i64, &str); 3] = [
    (EntityTypeId::LEAD, "LEAD"),
    (EntityTypeId::CONTACT, "CONTACT"),
    (EntityTypeId::COMPANY, "COMPANY"),
];

/// The most ids one type answers; a type that reaches it ends the search (the later types are
/// not answered), as the service documents.
pub const MAX_PER_TYPE: usize = 20;

/// The most values one call searches for (the documented maximum; the rest are ignored).
pub const MAX_VALUES: usize = 20;

/// A value as it is compared: a phone's digits before any extension (`ext`, `доб`, `x`, `#`,
/// `,`, `;` start one), an e-mail trimmed and lower-cased. Empty when nothing is left.
pub fn normalise(kind: CommunicationKind, value: &str) -> String {
    match kind {
        CommunicationKind::Phone => value
            .chars()
            .take_while(|c| !(c.is_alphabetic() || matches!(c, '#' | ',' | ';')))
            .filter(char::is_ascii_digit)
            .collect(),
        CommunicationKind::Email => value.trim().to_lowercase(),
    }
}

/// The normalised communications an item of `entity_type_id` carries in its stored fields
/// (`None` for a deleted item: no rows); `None` overall for a type that has none (deals,
/// smart processes), whose writes then skip the index.
pub fn communications_of(
    entity_type_id: i64,
    extra: Option<&Map<String, Value>>,
) -> Option<Vec<(CommunicationKind, String)>> {
    if !SEARCHED_TYPES.iter().any(|(t, _)| *t == entity_type_id) {
        return None;
    }
    let mut out = Vec::new();
    let Some(extra) = extra else {
        return Some(out);
    };
    for kind in [CommunicationKind::Phone, CommunicationKind::Email] {
        for entry in extra
            .get(kind.as_str())
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let value = normalise(kind, entry["VALUE"].as_str().unwrap_or_default());
            if !value.is_empty() && !out.contains(&(kind, value.clone())) {
                out.push((kind, value));
            }
        }
    }
    Some(out)
}

/// The parameters of `crm.duplicate.findbycomm`, already read.
#[derive(Debug, Clone)]
pub struct Search {
    /// `type`.
    pub kind: CommunicationKind,
    /// `values`, as given.
    pub values: Vec<String>,
    /// `entity_type`: one type, or all three.
    pub entity_type_id: Option<i64>,
}

/// Reads `type`, `values` and `entity_type` in the service's order and with its words.
pub fn parse(
    kind: Option<&Value>,
    values: Option<&Value>,
    entity_type: Option<&Value>,
) -> Result<Search, ApiError> {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let kind_text = text(kind).to_ascii_uppercase();
    let kind = match kind_text.as_str() {
        "" => return Err(RestError::legacy("Communication type is not defined").into()),
        "PHONE" => CommunicationKind::Phone,
        "EMAIL" => CommunicationKind::Email,
        other => {
            return Err(RestError::legacy(format!(
                "Communication type '{other}' is not supported in current context"
            ))
            .into())
        }
    };
    let values: Vec<String> = match values {
        Some(Value::Array(a)) => a.iter().map(|v| text(Some(v))).collect(),
        Some(Value::Object(o)) => o.values().map(|v| text(Some(v))).collect(),
        _ => Vec::new(),
    };
    let values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
    if values.is_empty() {
        return Err(RestError::legacy("Communication values is not defined").into());
    }
    let entity_text = text(entity_type).to_ascii_uppercase();
    let entity_type_id = if entity_text.is_empty() {
        None
    } else {
        let found = SEARCHED_TYPES.iter().find(|(_, name)| *name == entity_text);
        match found {
            Some((id, _)) => Some(*id),
            None => {
                return Err(RestError::legacy(format!(
                    "Entity type '{entity_text}' is not supported in current context"
                ))
                .into())
            }
        }
    };
    Ok(Search {
        kind,
        values: values.into_iter().take(MAX_VALUES).collect(),
        entity_type_id,
    })
}

/// The ids per type name, only types with matches and only items the caller may read; a caller
/// who may read none of the searched types is refused (403).
pub fn find(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    search: &Search,
) -> Result<Vec<(&'static str, Vec<i64>)>, ApiError> {
    let types: Vec<(i64, &'static str)> = SEARCHED_TYPES
        .iter()
        .filter(|(t, _)| search.entity_type_id.is_none_or(|wanted| wanted == *t))
        .copied()
        .collect();
    if types
        .iter()
        .all(|(t, _)| permissions.level(*t, Action::Read) == Level::None)
    {
        return Err(RestError::with_message(ErrorCode::AccessDeniedSystem, "Access denied").into());
    }
    let values: Vec<String> = search
        .values
        .iter()
        .map(|v| normalise(search.kind, v))
        .filter(|v| !v.is_empty())
        .collect();
    let mut out = Vec::new();
    for (entity_type_id, name) in types {
        let mut ids = Vec::new();
        for binding in tx.items_with_communications(search.kind, &values, &[entity_type_id])? {
            if can(tx, permissions, binding, Action::Read)? {
                ids.push(binding.entity_id);
            }
        }
        ids.truncate(MAX_PER_TYPE);
        let full = ids.len() >= MAX_PER_TYPE;
        if !ids.is_empty() {
            out.push((name, ids));
        }
        if full {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phones_compare_by_their_digits_without_the_extension() {
        let p = |s| normalise(CommunicationKind::Phone, s);
        assert_eq!(p("+7 (900) 123-45-67"), "79001234567");
        assert_eq!(p("+7 900 123 45 67 ext. 89"), "79001234567");
        assert_eq!(p("+7 900 123 45 67 доб. 89"), "79001234567");
        assert_eq!(p("+7 900 123 45 67#89"), "79001234567");
        assert_eq!(p("no digits"), "");
        assert_eq!(
            normalise(CommunicationKind::Email, " Ann@Example.COM "),
            "ann@example.com"
        );
    }

    #[test]
    fn only_leads_contacts_and_companies_carry_communications() {
        let extra = json!({"PHONE": [{"VALUE": "+1 555"}, {"VALUE": "1-555"}],
                           "EMAIL": [{"VALUE": "A@b.c"}]});
        let extra = extra.as_object();
        assert_eq!(
            communications_of(3, extra),
            Some(vec![
                (CommunicationKind::Phone, "1555".to_string()),
                (CommunicationKind::Email, "a@b.c".to_string())
            ])
        );
        assert_eq!(communications_of(2, extra), None);
        assert_eq!(communications_of(4, None), Some(vec![]));
    }
}
