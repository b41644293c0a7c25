//! List statements: a [`ListQuery`] compiled to one page statement and one count statement with
//! their arguments, for either backend. The operator semantics are the same everywhere; the
//! [`Dialect`] decides only how a value is read (SQLite's `json_extract` against PostgreSQL's
//! typed `jsonb` expressions), how placeholders are written, and index hints.

use super::driver::{Arg, Dialect};
use super::query::{Column, CompareOp, Filter, ListQuery, SqlValue, UserFieldColumn};
use super::sql::{ACTIVITY_COLUMNS, ITEM_COLUMNS, OFFLINE_COLUMNS};
use super::PortalId;

/// A page statement, the statement counting all its matches, and the arguments of both.
pub struct PageSql<'q> {
    /// `SELECT … ORDER BY … LIMIT … OFFSET …`.
    pub page: String,
    /// `SELECT COUNT(*) …` over the same condition.
    pub count: String,
    /// The arguments, shared by both statements.
    pub args: Vec<Arg<'q>>,
}

/// Collects arguments and hands out their placeholders.
struct Args<'q> {
    dialect: Dialect,
    values: Vec<Arg<'q>>,
    /// The portal, for the user-field subqueries of item pages (which name it as an argument,
    /// so that they are not correlated and run from the value indexes).
    portal: PortalId,
}

impl<'q> Args<'q> {
    fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            values: Vec::with_capacity(8),
            portal: 0,
        }
    }

    fn push(&mut self, value: Arg<'q>, sql_type: &str) -> String {
        self.values.push(value);
        self.dialect.param(self.values.len(), sql_type)
    }

    fn int(&mut self, value: i64) -> String {
        self.push(Arg::Int(value), "bigint")
    }

    /// A value as a placeholder of its type; `NULL` needs no argument.
    fn value(&mut self, value: &'q SqlValue) -> String {
        match value {
            SqlValue::Int(i) => self.int(*i),
            SqlValue::Real(f) => self.push(Arg::Real(*f), "float8"),
            SqlValue::Text(t) => self.push(Arg::Text(t), "text"),
            SqlValue::Null => "NULL".into(),
        }
    }
}

/// The page of `crm.item.list`-style queries over one type.
pub fn items_page<'q>(
    dialect: Dialect,
    portal: PortalId,
    entity_type_id: i64,
    query: &'q ListQuery,
) -> PageSql<'q> {
    let mut args = Args::new(dialect);
    args.portal = portal;
    let where_clause = format!(
        "portal_id = {} AND entity_type_id = {} AND {}",
        args.int(portal),
        args.int(entity_type_id),
        compile_filter(&query.filter, &mut args)
    );
    PageSql {
        page: format!(
            "SELECT {ITEM_COLUMNS} FROM crm_items WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}",
            order_by(dialect, &query.order, "id"),
            query.limit,
            query.offset
        ),
        count: format!("SELECT COUNT(*) FROM crm_items WHERE {where_clause}"),
        args: args.values,
    }
}

/// The page of `crm.activity.list`.
///
/// A filter on the activities bound to one item is served from the `(item, activity)` binding
/// index as a join, so that a page costs the same however many activities the item has; other
/// filters run against the activity table and its indexes.
pub fn activities_page<'q>(
    dialect: Dialect,
    portal: PortalId,
    query: &'q ListQuery,
) -> PageSql<'q> {
    let mut conjuncts = Vec::new();
    flatten_all(&query.filter, &mut conjuncts);
    let bound_to_one = conjuncts.iter().position(
        |f| matches!(f, Filter::BoundTo(pairs) if matches!(pairs.as_slice(), [(Some(_), Some(_))])),
    );
    let columns = ACTIVITY_COLUMNS
        .split(',')
        .map(|c| format!("activities.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut args = Args::new(dialect);
    let Some(position) = bound_to_one else {
        let where_clause = format!(
            "activities.portal_id = {} AND {}",
            args.int(portal),
            compile_filter(&query.filter, &mut args)
        );
        return PageSql {
            page: format!(
                "SELECT {columns} FROM activities WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}",
                order_by(dialect, &query.order, "activities.id"),
                query.limit,
                query.offset
            ),
            count: format!("SELECT COUNT(*) FROM activities WHERE {where_clause}"),
            args: args.values,
        };
    };
    let Filter::BoundTo(pairs) = conjuncts.remove(position) else {
        unreachable!("position found a BoundTo")
    };
    let (entity_type_id, entity_id) = (pairs[0].0.unwrap_or(0), pairs[0].1.unwrap_or(0));
    let mut where_clause = format!(
        "jb.portal_id = {} AND jb.entity_type_id = {} AND jb.entity_id = {}",
        args.int(portal),
        args.int(entity_type_id),
        args.int(entity_id),
    );
    // The id bounds, repeated on the binding row so the index range starts at the cursor.
    for f in &conjuncts {
        if let Filter::Compare {
            column: Column::Plain("id"),
            op: op @ (CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le | CompareOp::Eq),
            values,
        } = f
        {
            if let [SqlValue::Int(id)] = values.as_slice() {
                let sql_op = match op {
                    CompareOp::Gt => ">",
                    CompareOp::Ge => ">=",
                    CompareOp::Lt => "<",
                    CompareOp::Le => "<=",
                    _ => "=",
                };
                where_clause.push_str(&format!(" AND jb.activity_id {sql_op} {}", args.int(*id)));
            }
        }
    }
    // The other conjuncts, as `compile_filter` writes an `All` group.
    let rest: Vec<String> = conjuncts
        .into_iter()
        .map(|f| compile_filter(f, &mut args))
        .collect();
    let condition = if rest.is_empty() {
        "1 = 1".to_string()
    } else {
        format!("({})", rest.join(" AND "))
    };
    where_clause.push_str(&format!(
        " AND activities.portal_id = jb.portal_id AND {condition}"
    ));
    let from = format!(
        "activities JOIN activity_bindings jb{}
                 ON jb.portal_id = activities.portal_id AND jb.activity_id = activities.id",
        dialect.index_hint("activity_bindings_by_item")
    );
    let order = if query.order.is_empty() || query.order == [(Column::Plain("id"), false)] {
        "jb.activity_id ASC".to_string()
    } else if query.order == [(Column::Plain("id"), true)] {
        "jb.activity_id DESC".to_string()
    } else {
        order_by(dialect, &query.order, "activities.id")
    };
    PageSql {
        page: format!(
            "SELECT {columns} FROM {from} WHERE {where_clause} ORDER BY {order} LIMIT {} OFFSET {}",
            query.limit, query.offset
        ),
        count: format!("SELECT COUNT(*) FROM {from} WHERE {where_clause}"),
        args: args.values,
    }
}

/// A page of one application's offline-event queue; `lock` is appended to the page statement.
pub fn offline_page<'q>(
    dialect: Dialect,
    portal: PortalId,
    app_id: i64,
    connector_id: &'q str,
    query: &'q ListQuery,
    lock: &str,
) -> PageSql<'q> {
    let mut args = Args::new(dialect);
    let where_clause = format!(
        "portal_id = {} AND app_id = {} AND connector_id = {} AND {}",
        args.int(portal),
        args.int(app_id),
        args.push(Arg::Text(connector_id), "text"),
        compile_filter(&query.filter, &mut args)
    );
    PageSql {
        page: format!(
            "SELECT {OFFLINE_COLUMNS} FROM event_offline WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}{lock}",
            order_by(dialect, &query.order, "id"),
            query.limit,
            query.offset
        ),
        count: format!("SELECT COUNT(*) FROM event_offline WHERE {where_clause}"),
        args: args.values,
    }
}

/// A page of `user.get`: `columns` of the users matching the filter and, when `departments` is
/// given, belonging to one of them (served by the `(department, user)` index of the links).
pub fn users_page<'q>(
    dialect: Dialect,
    portal: PortalId,
    columns: &str,
    query: &'q ListQuery,
    departments: Option<&[i64]>,
) -> PageSql<'q> {
    let mut args = Args::new(dialect);
    let mut where_clause = format!(
        "portal_id = {} AND {}",
        args.int(portal),
        compile_filter(&query.filter, &mut args)
    );
    if let Some(departments) = departments {
        // Not correlated with the outer row: the links are read once through their
        // `(department, user)` index, and the users found by primary key.
        let portal = args.int(portal);
        where_clause.push_str(&format!(
            " AND id IN (SELECT user_id FROM user_departments WHERE portal_id = {portal} AND department_id IN ({}))",
            int_list(departments)
        ));
    }
    PageSql {
        page: format!(
            "SELECT {columns} FROM users WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}",
            order_by(dialect, &query.order, "id"),
            query.limit,
            query.offset
        ),
        count: format!("SELECT COUNT(*) FROM users WHERE {where_clause}"),
        args: args.values,
    }
}

/// A page of `tasks.task.list`. The conditions on people and CRM bindings are subqueries that
/// are not correlated with the outer row: the member rows are read once through their
/// `(user, role, task)` index (the binding rows through their `(item, activity)` index) and the
/// tasks found by primary key.
pub fn tasks_page<'q>(
    dialect: Dialect,
    portal: PortalId,
    columns: &str,
    query: &'q super::tasks::TaskQuery,
) -> PageSql<'q> {
    let mut args = Args::new(dialect);
    let mut where_clause = format!(
        "portal_id = {} AND {}",
        args.int(portal),
        compile_filter(&query.list.filter, &mut args)
    );
    if let Some(user) = query.member {
        let portal = args.int(portal);
        where_clause.push_str(&format!(
            " AND id IN (SELECT task_id FROM task_members WHERE portal_id = {portal} AND user_id = {})",
            args.int(user)
        ));
    }
    for (role, users) in &query.roles {
        let portal = args.int(portal);
        where_clause.push_str(&format!(
            " AND id IN (SELECT task_id FROM task_members WHERE portal_id = {portal} AND user_id IN ({}) AND role = '{}')",
            int_list(users),
            role.code()
        ));
    }
    if let Some(items) = &query.crm {
        let portal = args.int(portal);
        let any: Vec<String> = items
            .iter()
            .map(|(t, i)| format!("(entity_type_id = {t} AND entity_id = {i})"))
            .collect();
        let any = if any.is_empty() {
            "1 = 0".to_string()
        } else {
            any.join(" OR ")
        };
        where_clause.push_str(&format!(
            " AND activity_id IN (SELECT activity_id FROM activity_bindings WHERE portal_id = {portal} AND ({any}))"
        ));
    }
    PageSql {
        page: format!(
            "SELECT {columns} FROM tasks WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}",
            order_by(dialect, &query.list.order, "id"),
            query.list.limit,
            query.list.offset
        ),
        count: format!("SELECT COUNT(*) FROM tasks WHERE {where_clause}"),
        args: args.values,
    }
}

/// The conjuncts of nested `All` groups.
fn flatten_all<'a>(filter: &'a Filter, out: &mut Vec<&'a Filter>) {
    match filter {
        Filter::All(parts) => parts.iter().for_each(|p| flatten_all(p, out)),
        other => out.push(other),
    }
}

/// What kind of value a comparison is about, so both sides get one SQL type.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Number,
    Text,
}

fn kind_of(value: &SqlValue) -> Option<Kind> {
    match value {
        SqlValue::Int(_) | SqlValue::Real(_) => Some(Kind::Number),
        SqlValue::Text(_) => Some(Kind::Text),
        SqlValue::Null => None,
    }
}

/// Typed columns that are not integers, in PostgreSQL (everything else typed is `BIGINT`).
const TEXT_COLUMNS: &[&str] = &[
    "connector_id",
    "event_name",
    "message_id",
    "data",
    "timestamp_x",
    "process_id",
    "title",
    "created_time",
    "updated_time",
    "provider_id",
    "provider_type_id",
    "subject",
    "description",
    "deadline",
    "start_time",
    "end_time",
    "created",
    "last_updated",
    "name",
    "last_name",
    "second_name",
    "email",
    "xml_id",
    "user_type",
    "personal_birthday",
    "employment_date",
    "last_login",
    "last_activity",
];
const BOOLEAN_COLUMNS: &[&str] = &["completed", "active", "admin"];

/// PostgreSQL: the JSON value under an `extra` key; JSON `null` counts as missing, as in
/// SQLite's `json_extract`.
fn extra_jsonb(key: &str) -> String {
    format!("NULLIF(extra::jsonb -> '{key}', 'null'::jsonb)")
}

/// A column as an SQL expression of the wanted kind.
///
/// SQLite compares values of its dynamic types as they are (a number never equals text). In
/// PostgreSQL, JSON values of another type yield `NULL`, so the same rows match; JSON booleans
/// count as 1 / 0, as SQLite's `json_extract` gives them.
fn column_expr(dialect: Dialect, column: Column, kind: Kind) -> String {
    match (dialect, column, kind) {
        (_, Column::UserField(field_id, value), _) => first_user_field_value(field_id, value),
        (Dialect::Sqlite, Column::Plain(name), _) => name.to_string(),
        (Dialect::Sqlite, Column::Extra(key), _) => format!("json_extract(extra, '$.{key}')"),
        (Dialect::Postgres, Column::Plain(name), Kind::Number)
            if BOOLEAN_COLUMNS.contains(&name) =>
        {
            format!("({name}::int)")
        }
        (Dialect::Postgres, Column::Plain(name), Kind::Text) if BOOLEAN_COLUMNS.contains(&name) => {
            format!("({name}::int::text)")
        }
        (Dialect::Postgres, Column::Plain(name), Kind::Text) if !TEXT_COLUMNS.contains(&name) => {
            format!("({name}::text)")
        }
        (Dialect::Postgres, Column::Plain(name), _) => name.to_string(),
        (Dialect::Postgres, Column::Extra(key), Kind::Number) => {
            let j = extra_jsonb(key);
            format!(
                "(CASE jsonb_typeof({j}) WHEN 'number' THEN ({j} #>> '{{}}')::float8 \
                 WHEN 'boolean' THEN (CASE WHEN {j} = 'true'::jsonb THEN 1 ELSE 0 END) END)"
            )
        }
        (Dialect::Postgres, Column::Extra(key), Kind::Text) => {
            let j = extra_jsonb(key);
            format!("(CASE jsonb_typeof({j}) WHEN 'string' THEN {j} #>> '{{}}' END)")
        }
    }
}

/// A column as text of any JSON type, for `LIKE` and empty-text tests (SQLite applies `LIKE` to
/// numbers' text too).
fn column_as_text(dialect: Dialect, column: Column) -> String {
    match (dialect, column) {
        (Dialect::Postgres, Column::Extra(key)) => format!("({} #>> '{{}}')", extra_jsonb(key)),
        _ => column_expr(dialect, column, Kind::Text),
    }
}

/// The condition "the value is missing": SQL `NULL` for typed columns, an absent (or JSON
/// `null`) key for `extra`.
fn missing(dialect: Dialect, column: Column, typed: &str) -> String {
    match (dialect, column) {
        (Dialect::Postgres, Column::Extra(key)) => format!("{} IS NULL", extra_jsonb(key)),
        _ => format!("{typed} IS NULL"),
    }
}

/// `ORDER BY` keys with an `id` tie-breaker in the last key's direction, so pages never overlap.
/// Missing values sort first ascending and last descending, as SQLite sorts `NULL`; PostgreSQL
/// orders JSON values in `jsonb` order.
fn order_by(dialect: Dialect, order: &[(Column, bool)], id: &str) -> String {
    let dir = |desc: bool| if desc { "DESC" } else { "ASC" };
    let mut keys: Vec<String> = order
        .iter()
        .map(|(c, desc)| match (dialect, c) {
            (_, Column::Plain("id")) => format!("{id} {}", dir(*desc)),
            (Dialect::Sqlite, Column::UserField(f, v)) => {
                format!("{} {}", first_user_field_value(*f, *v), dir(*desc))
            }
            (Dialect::Postgres, Column::UserField(f, v)) => format!(
                "{} {} NULLS {}",
                first_user_field_value(*f, *v),
                dir(*desc),
                if *desc { "LAST" } else { "FIRST" }
            ),
            (_, Column::Plain(name)) => format!("{name} {}", dir(*desc)),
            (Dialect::Sqlite, Column::Extra(_)) => {
                format!("{} {}", column_expr(dialect, *c, Kind::Text), dir(*desc))
            }
            (Dialect::Postgres, Column::Extra(key)) => format!(
                "{} {} NULLS {}",
                extra_jsonb(key),
                dir(*desc),
                if *desc { "LAST" } else { "FIRST" }
            ),
        })
        .collect();
    if !order.iter().any(|(c, _)| *c == Column::Plain("id")) {
        let last_desc = order.last().is_some_and(|(_, desc)| *desc);
        keys.push(format!("{id} {}", dir(last_desc)));
    }
    keys.join(", ")
}

/// A literal id list for `IN (…)`; `NULL` for none, which matches nothing.
fn int_list(ids: &[i64]) -> String {
    if ids.is_empty() {
        return "NULL".into();
    }
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An item's first value of a user field (an order key): one primary-key probe per item.
fn first_user_field_value(field_id: i64, value: UserFieldColumn) -> String {
    format!(
        "(SELECT v.{} FROM crm_uf_values v WHERE v.portal_id = crm_items.portal_id
             AND v.entity_type_id = crm_items.entity_type_id AND v.item_id = crm_items.id
             AND v.field_id = {field_id} AND v.position = 0)",
        value.name()
    )
}

/// A comparison on a user field: the items with a value that matches, found from the field's
/// value index (`id IN (…)`), or the items without one (the negative operators, and `=` of
/// nothing). A multiple field matches when any of its values does, as the service's join does.
fn compile_user_field<'q>(
    field_id: i64,
    value: UserFieldColumn,
    op: CompareOp,
    values: &'q [SqlValue],
    args: &mut Args<'q>,
) -> String {
    const NULL: &SqlValue = &SqlValue::Null;
    let first = values.first().unwrap_or(NULL);
    let nothing = *first == SqlValue::Null || matches!(first, SqlValue::Text(t) if t.is_empty());
    let c = format!("v.{}", value.name());
    let like = args.dialect.like();
    let (negated, condition) = match op {
        CompareOp::Eq if nothing => (true, "1 = 1".to_string()),
        CompareOp::NotEq if nothing => (false, "1 = 1".to_string()),
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le if nothing => {
            return "1 = 0".into()
        }
        CompareOp::Eq => (false, format!("{c} = {}", args.value(first))),
        CompareOp::NotEq => (true, format!("{c} = {}", args.value(first))),
        CompareOp::Gt => (false, format!("{c} > {}", args.value(first))),
        CompareOp::Ge => (false, format!("{c} >= {}", args.value(first))),
        CompareOp::Lt => (false, format!("{c} < {}", args.value(first))),
        CompareOp::Le => (false, format!("{c} <= {}", args.value(first))),
        CompareOp::In if values.is_empty() => return "1 = 0".into(),
        CompareOp::NotIn if values.is_empty() => return "1 = 1".into(),
        CompareOp::In | CompareOp::NotIn => {
            let kind = match value {
                UserFieldColumn::Num => Kind::Number,
                UserFieldColumn::Text => Kind::Text,
            };
            (
                op == CompareOp::NotIn,
                format!("{c} IN ({})", list(values, kind, args)),
            )
        }
        CompareOp::Like | CompareOp::NotLike => (
            op == CompareOp::NotLike,
            format!(
                "{} {like} {} ESCAPE '\\'",
                match value {
                    UserFieldColumn::Num => format!("CAST({c} AS TEXT)"),
                    UserFieldColumn::Text => c.clone(),
                },
                args.value(first)
            ),
        ),
    };
    let portal = args.int(args.portal);
    format!(
        "crm_items.id {}IN (SELECT v.item_id FROM crm_uf_values v
             WHERE v.portal_id = {portal} AND v.field_id = {field_id} AND {condition})",
        if negated { "NOT " } else { "" }
    )
}

fn compile_compare<'q>(
    column: Column,
    op: CompareOp,
    values: &'q [SqlValue],
    args: &mut Args<'q>,
) -> String {
    if let Column::UserField(field_id, value) = column {
        return compile_user_field(field_id, value, op, values, args);
    }
    let dialect = args.dialect;
    const NULL: &SqlValue = &SqlValue::Null;
    let first = values.first().unwrap_or(NULL);
    let kind = kind_of(first)
        .or_else(|| values.iter().find_map(kind_of))
        .unwrap_or(Kind::Text);
    let c = column_expr(dialect, column, kind);
    let empty_text = matches!(first, SqlValue::Text(t) if t.is_empty());
    let null = *first == SqlValue::Null;
    let missing = missing(dialect, column, &c);
    let like = dialect.like();
    match op {
        CompareOp::Eq if null => missing,
        CompareOp::Eq if empty_text => {
            format!("({missing} OR {} = '')", column_as_text(dialect, column))
        }
        CompareOp::Eq => format!("{c} = {}", args.value(first)),
        CompareOp::NotEq if null => format!("NOT ({missing})"),
        CompareOp::NotEq if empty_text => format!(
            "(NOT ({missing}) AND {} <> '')",
            column_as_text(dialect, column)
        ),
        CompareOp::NotEq => format!("({c} IS NULL OR {c} <> {})", args.value(first)),
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le if null => "1 = 0".into(),
        CompareOp::Gt => format!("{c} > {}", args.value(first)),
        CompareOp::Ge => format!("{c} >= {}", args.value(first)),
        CompareOp::Lt => format!("{c} < {}", args.value(first)),
        CompareOp::Le => format!("{c} <= {}", args.value(first)),
        CompareOp::In if values.is_empty() => "1 = 0".into(),
        CompareOp::In => format!("{c} IN ({})", list(values, kind, args)),
        CompareOp::NotIn if values.is_empty() => "1 = 1".into(),
        CompareOp::NotIn => format!("({c} IS NULL OR {c} NOT IN ({}))", list(values, kind, args)),
        CompareOp::Like => format!(
            "{} {like} {} ESCAPE '\\'",
            column_as_text(dialect, column),
            args.value(first)
        ),
        CompareOp::NotLike => {
            let t = column_as_text(dialect, column);
            format!(
                "({t} IS NULL OR {t} NOT {like} {} ESCAPE '\\')",
                args.value(first)
            )
        }
    }
}

/// Placeholders for an `IN` list. In PostgreSQL a value of another kind than the column's
/// becomes `NULL` (it cannot match, and one list has one type); SQLite compares each as it is.
fn list<'q>(values: &'q [SqlValue], kind: Kind, args: &mut Args<'q>) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| {
            if args.dialect == Dialect::Sqlite || kind_of(v) == Some(kind) {
                args.value(v)
            } else {
                "NULL".into()
            }
        })
        .collect();
    items.join(", ")
}

/// Compiles a filter tree to a condition, pushing its arguments in order.
fn compile_filter<'q>(filter: &'q Filter, args: &mut Args<'q>) -> String {
    match filter {
        Filter::All(parts) if parts.is_empty() => "1 = 1".into(),
        Filter::Any(parts) if parts.is_empty() => "1 = 0".into(),
        Filter::All(parts) | Filter::Any(parts) => {
            let glue = if matches!(filter, Filter::All(_)) {
                " AND "
            } else {
                " OR "
            };
            let parts: Vec<String> = parts.iter().map(|p| compile_filter(p, args)).collect();
            format!("({})", parts.join(glue))
        }
        Filter::Compare { column, op, values } => compile_compare(*column, *op, values, args),
        Filter::BoundTo(pairs) => {
            if pairs.is_empty() {
                return "1 = 0".into();
            }
            let mut alternatives = Vec::new();
            for (entity_type_id, entity_id) in pairs {
                let mut parts = Vec::new();
                if let Some(t) = entity_type_id {
                    parts.push(format!("entity_type_id = {}", args.int(*t)));
                }
                if let Some(i) = entity_id {
                    parts.push(format!("entity_id = {}", args.int(*i)));
                }
                alternatives.push(if parts.is_empty() {
                    "1 = 1".to_string()
                } else {
                    format!("({})", parts.join(" AND "))
                });
            }
            format!(
                "activities.id IN (SELECT activity_id FROM activity_bindings WHERE portal_id = activities.portal_id AND ({}))",
                alternatives.join(" OR ")
            )
        }
        Filter::ReadableThroughBindings {
            all_types,
            own_types,
            user_id,
        } => {
            let user = args.int(*user_id);
            format!(
                "EXISTS (SELECT 1 FROM activity_bindings b WHERE b.portal_id = activities.portal_id
                     AND b.activity_id = activities.id
                     AND (b.entity_type_id IN ({}) OR (b.entity_type_id IN ({}) AND EXISTS (
                         SELECT 1 FROM crm_items i WHERE i.portal_id = b.portal_id
                             AND i.entity_type_id = b.entity_type_id AND i.id = b.entity_id
                             AND i.assigned_by_id = {user}))))",
                int_list(all_types),
                int_list(own_types)
            )
        }
    }
}

/// The columns of `crm_statuses`, in the order [`super::statuses`] decodes them.
pub const STATUS_COLUMNS: &str =
    "id, entity_id, status_id, name, name_init, sort, system, category_id, color, semantics";

/// A page of `crm.status.list`: plain columns of `crm_statuses` only. With a filter on one
/// dictionary (the usual call) the `(entity_id, sort)` index serves it.
pub fn statuses_page<'q>(dialect: Dialect, portal: PortalId, query: &'q ListQuery) -> PageSql<'q> {
    let mut args = Args::new(dialect);
    let where_clause = format!(
        "portal_id = {} AND {}",
        args.int(portal),
        compile_filter(&query.filter, &mut args)
    );
    PageSql {
        page: format!(
            "SELECT {STATUS_COLUMNS} FROM crm_statuses WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}",
            order_by(dialect, &query.order, "id"),
            query.limit,
            query.offset
        ),
        count: format!("SELECT COUNT(*) FROM crm_statuses WHERE {where_clause}"),
        args: args.values,
    }
}

/// The columns of `crm_stage_history`, in the order [`super::stage_history`] decodes them.
pub const STAGE_HISTORY_COLUMNS: &str =
    "id, type_id, owner_id, created_time, category_id, semantic_id, stage_id";

/// A page of `crm.stagehistory.list` over one type, served by the primary key (by id) or the
/// `(owner, id)` index. With `assignee`, only rows of items assigned to that user (an "own"
/// read right), checked against the items' `(type, assignee, id)` index.
pub fn stage_history_page<'q>(
    dialect: Dialect,
    portal: PortalId,
    entity_type_id: i64,
    query: &'q ListQuery,
    assignee: Option<i64>,
) -> PageSql<'q> {
    let mut args = Args::new(dialect);
    let portal_arg = args.int(portal);
    let type_arg = args.int(entity_type_id);
    let mut where_clause = format!(
        "portal_id = {portal_arg} AND entity_type_id = {type_arg} AND {}",
        compile_filter(&query.filter, &mut args)
    );
    if let Some(user) = assignee {
        where_clause.push_str(&format!(
            " AND owner_id IN (SELECT id FROM crm_items WHERE portal_id = {portal_arg} \
             AND entity_type_id = {type_arg} AND assigned_by_id = {})",
            args.int(user)
        ));
    }
    PageSql {
        page: format!(
            "SELECT {STAGE_HISTORY_COLUMNS} FROM crm_stage_history WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}",
            order_by(dialect, &query.order, "id"),
            query.limit,
            query.offset
        ),
        count: format!("SELECT COUNT(*) FROM crm_stage_history WHERE {where_clause}"),
        args: args.values,
    }
}

/// The columns of `crm_records`, in the order [`super::records`] decodes them.
pub const RECORD_COLUMNS: &str = "id, owner_type_id, owner_id, sort, extra";

/// A page of records of one kind (`crm.product.list`, `crm.item.productrow.list`,
/// `crm.requisite.list`, …): by the primary key, or by the `(kind, owner, sort, id)` index when
/// the filter names an owner.
pub fn records_page<'q>(
    dialect: Dialect,
    portal: PortalId,
    kind: &'static str,
    query: &'q ListQuery,
) -> PageSql<'q> {
    let mut args = Args::new(dialect);
    let where_clause = format!(
        "portal_id = {} AND kind = {} AND {}",
        args.int(portal),
        args.push(Arg::Text(kind), "text"),
        compile_filter(&query.filter, &mut args)
    );
    PageSql {
        page: format!(
            "SELECT {RECORD_COLUMNS} FROM crm_records WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}",
            order_by(dialect, &query.order, "id"),
            query.limit,
            query.offset
        ),
        count: format!("SELECT COUNT(*) FROM crm_records WHERE {where_clause}"),
        args: args.values,
    }
}
