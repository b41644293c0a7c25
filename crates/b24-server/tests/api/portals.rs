//! Many portals on one server (`/_b24/portals`, `b24-server portal create|list|delete`): each has
//! its own rows, ids, clock, limits and credentials; a call finds its portal from its credential
//! and can never see or change another portal's rows.

use crate::helpers::*;
use b24_server::store::PortalId;
use reqwest::Method;
use serde_json::{json, Value};

/// A portal made through the admin API.
struct Portal {
    webhook: String,
    answer: Value,
}

async fn new_portal(app: &TestApp, name: &str) -> Portal {
    let (status, answer) = app
        .control(Method::POST, "/portals", Some(json!({ "name": name })))
        .await;
    assert_eq!(status, 201, "{answer}");
    Portal {
        webhook: answer["webhook"].as_str().unwrap().to_string(),
        answer,
    }
}

fn portal_id(app: &TestApp, name: &str) -> PortalId {
    app.state
        .portals
        .id_of(name)
        .expect("the server holds the portal")
}

#[tokio::test]
async fn creating_a_portal_answers_201_with_its_webhook_member_id_and_domain() {
    let app = spawn_app().await;
    let portal = new_portal(&app, "ci-1").await;
    let answer = &portal.answer;
    let keys: Vec<&String> = answer.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["portal", "webhook", "https_webhook", "member_id", "domain"]
    );
    assert_eq!(answer["portal"], "ci-1");
    let port = app.base.rsplit(':').next().unwrap();
    assert_eq!(answer["domain"], format!("ci-1.localhost:{port}"));
    assert_eq!(answer["https_webhook"], Value::Null);
    assert_eq!(answer["member_id"].as_str().unwrap().len(), 32);
    assert!(portal.webhook.starts_with(&format!("{}/rest/1/", app.base)));
    assert!(portal.webhook.ends_with('/'));
    // Its administrator is user 1 of its own, and its webhook has every scope.
    let (status, me) = app
        .call_as(&portal.webhook, "user.current", json!({}))
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["result"]["ID"], "1");
    let (status, _) = app
        .call_as(&portal.webhook, "crm.deal.list", json!({}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_portal_created_without_a_name_gets_a_unique_generated_one() {
    let app = spawn_app().await;
    let mut names = Vec::new();
    for _ in 0..2 {
        let (status, answer) = app.control(Method::POST, "/portals", None).await;
        assert_eq!(status, 201, "{answer}");
        let name = answer["portal"].as_str().unwrap().to_string();
        assert!(b24_server::portals::valid_name(&name), "{name}");
        names.push(name);
    }
    assert_ne!(names[0], names[1]);
    let (_, list) = app.control(Method::GET, "/portals", None).await;
    let listed: Vec<&str> = list["portals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["portal"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["default", names[0].as_str(), names[1].as_str()]);
}

#[tokio::test]
async fn a_taken_or_malformed_name_is_refused_with_a_rest_shaped_4xx() {
    let app = spawn_app().await;
    new_portal(&app, "dup").await;
    let (status, answer) = app
        .control(Method::POST, "/portals", Some(json!({"name": "dup"})))
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        answer,
        envelope("PORTAL_EXISTS", "A portal named 'dup' exists already")
    );
    let (status, answer) = app
        .control(Method::POST, "/portals", Some(json!({"name": "Not_OK"})))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer,
        envelope(
            "INVALID_REQUEST",
            "'Not_OK' is not a portal name: use 1 to 40 of a-z, 0-9 and '-'"
        )
    );
    let (status, answer) = app
        .control(Method::POST, "/portals", Some(json!({"name": "default"})))
        .await;
    assert_eq!(status, 409, "{answer}");
    let (status, answer) = app.control(Method::DELETE, "/portals/default", None).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer,
        envelope("INVALID_REQUEST", "The default portal cannot be deleted")
    );
    let (status, answer) = app.control(Method::DELETE, "/portals/nope", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        answer,
        envelope(
            "NOT_FOUND",
            "There is no portal named 'nope': `b24-server portal list` shows them"
        )
    );
}

#[tokio::test]
async fn each_portal_has_its_own_rows_and_id_sequences() {
    let app = spawn_app().await;
    let b = new_portal(&app, "b").await;
    let in_default = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "mine"}}),
        )
        .await;
    let (_, in_b) = app
        .call_as(
            &b.webhook,
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "theirs"}}),
        )
        .await;
    // Both are item 1 of their portal.
    assert_eq!(in_default["item"]["id"], 1);
    assert_eq!(in_b["result"]["item"]["id"], 1);
    let (_, list) = app
        .call_as(&b.webhook, "crm.item.list", json!({"entityTypeId": 2}))
        .await;
    let titles: Vec<&str> = list["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["theirs"]);
    let (_, mine) = app
        .call("crm.item.get", json!({"entityTypeId": 2, "id": 1}))
        .await;
    assert_eq!(mine["result"]["item"]["title"], "mine");
}

/// Parameters naming rows by id in every way the methods take them.
fn params_naming(id: i64, entity_type_id: i64) -> Value {
    json!({
        "id": id, "ID": id, "entityTypeId": entity_type_id, "ownerTypeId": entity_type_id,
        "ownerId": id, "activityId": id, "ACTIVITY_ID": id, "OWNER_ID": id,
        "OWNER_TYPE_ID": entity_type_id, "userId": id, "USER_ID": id, "entityId": id,
        "categoryId": id, "itemId": id, "stageId": "NEW",
        "fields": {
            "title": "from A", "TITLE": "from A", "OWNER_ID": id, "OWNER_TYPE_ID": entity_type_id,
            "ENTITY_ID": id, "ENTITY_TYPE": "deal", "COMMENT": "from A", "companyId": id,
            "COMPANY_ID": id, "CONTACT_ID": id, "contactId": id, "NAME": "from A"
        },
        "filter": {}, "select": ["*"],
        "bindings": [{"entityTypeId": entity_type_id, "entityId": id}],
        "sourceEntityTypeId": entity_type_id, "sourceId": id, "targetId": id,
        "targetEntityTypeId": entity_type_id,
    })
}

/// Portal B's rows as an export shows them.
async fn export_of(app: &TestApp, portal: &str) -> Value {
    let (status, mut export) = app
        .control(Method::GET, &format!("/export?portal={portal}"), None)
        .await;
    assert_eq!(status, 200, "{export}");
    // When it was taken is not part of the portal.
    export.as_object_mut().unwrap().remove("exported");
    export
}

#[tokio::test]
async fn every_method_with_a_credential_of_one_portal_and_ids_of_another_leaves_the_other_untouched(
) {
    let app = spawn_app().await;
    let a = new_portal(&app, "a").await;
    let b = new_portal(&app, "b").await;
    // B holds rows of every kind, marked; A holds none.
    for entity_type_id in [1, 2, 3, 4] {
        for _ in 0..3 {
            let (status, body) = app
                .call_as(
                    &b.webhook,
                    "crm.item.add",
                    json!({"entityTypeId": entity_type_id, "fields": {"title": "B-SECRET"}}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    }
    let (status, body) = app
        .call_as(
            &b.webhook,
            "crm.activity.todo.add",
            json!({"ownerTypeId": 2, "ownerId": 1, "title": "B-SECRET", "description": "B-SECRET",
                   "deadline": "2030-01-01T10:00:00+00:00"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .call_as(
            &b.webhook,
            "crm.timeline.comment.add",
            json!({"fields": {"ENTITY_ID": 1, "ENTITY_TYPE": "deal", "COMMENT": "B-SECRET"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let before = export_of(&app, "b").await;
    assert!(before.to_string().contains("B-SECRET"));
    let mut called = 0;
    for spec in b24_server::methods::METHODS {
        for (id, entity_type_id) in [(1, 2), (2, 3), (1, 1)] {
            let (status, answer) = app
                .call_as(&a.webhook, spec.name, params_naming(id, entity_type_id))
                .await;
            assert!(status < 500, "{} answered {status}: {answer}", spec.name);
            assert!(
                !answer.to_string().contains("B-SECRET"),
                "{} showed portal B's rows to portal A: {answer}",
                spec.name
            );
            called += 1;
        }
    }
    assert!(called > 100);
    assert_eq!(export_of(&app, "b").await, before);
}

#[tokio::test]
async fn deleting_a_portal_removes_its_rows_and_its_webhook_stops_working() {
    let app = spawn_app().await;
    let gone = new_portal(&app, "gone").await;
    let (status, _) = app
        .call_as(
            &gone.webhook,
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "t"}}),
        )
        .await;
    assert_eq!(status, 200);
    let id = portal_id(&app, "gone");
    let (status, answer) = app.control(Method::DELETE, "/portals/gone", None).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["deleted"].as_u64().unwrap() > 10, "{answer}");
    let (status, answer) = app.call_as(&gone.webhook, "user.current", json!({})).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"], "INVALID_CREDENTIALS");
    // Not a row of it is left, in any table that has portal rows (a reset of the id finds
    // nothing to delete), and no portal row.
    let left = app
        .state
        .store
        .write(id, |tx| {
            let gone = tx.portal_state(id)?.is_none();
            Ok((gone, tx.reset_portal(false)?.values().sum::<u64>()))
        })
        .unwrap();
    assert_eq!(left, (true, 0));
    // The name can be used again, for a new, empty portal.
    let again = new_portal(&app, "gone").await;
    let (_, list) = app
        .call_as(&again.webhook, "crm.item.list", json!({"entityTypeId": 2}))
        .await;
    assert_eq!(list["result"]["items"], json!([]));
    assert_ne!(portal_id(&app, "gone"), id);
    // The default portal never noticed.
    app.ok("server.time", json!({})).await;
}

#[tokio::test]
async fn admin_routes_pick_the_portal_by_header_or_query_and_unknown_names_are_404() {
    let app = spawn_app().await;
    let p = new_portal(&app, "p").await;
    app.ok(
        "crm.item.add",
        json!({"entityTypeId": 2, "fields": {"title": "d"}}),
    )
    .await;
    app.call_as(
        &p.webhook,
        "crm.item.add",
        json!({"entityTypeId": 2, "fields": {"title": "p"}}),
    )
    .await;
    // A reset of portal p (by header) leaves the default portal's item.
    let response = app
        .client
        .post(format!("{}/_b24/reset", app.base))
        .bearer_auth(&app.admin_token)
        .header("X-B24-Portal", "p")
        .json(&json!({"keep": ["auth"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (_, list) = app
        .call_as(&p.webhook, "crm.item.list", json!({"entityTypeId": 2}))
        .await;
    assert_eq!(list["result"]["items"], json!([]));
    let list = app.ok("crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // The clock of portal p (by query) moves p's time only.
    let (status, _) = app
        .control(
            Method::POST,
            "/clock?portal=p",
            Some(json!({"advance_s": 86400 * 400})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, p_time) = app.call_as(&p.webhook, "server.time", json!({})).await;
    let default_time = app.ok("server.time", json!({})).await;
    let year = |v: &Value| v.as_str().unwrap()[..4].parse::<i32>().unwrap();
    assert!(
        year(&p_time["result"]) > year(&default_time),
        "{p_time} vs {default_time}"
    );
    let (status, answer) = app.control(Method::GET, "/clock?portal=nope", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        answer,
        envelope(
            "NOT_FOUND",
            "There is no portal named 'nope'; GET /_b24/portals lists them"
        )
    );
}

#[tokio::test]
async fn request_rate_limits_are_per_portal() {
    let app = spawn_app_with(|config| config.plan = Some(b24_server::limits::Plan::Standard)).await;
    let p = new_portal(&app, "p").await;
    let mut refused = false;
    for _ in 0..80 {
        let (status, _) = app.call("server.time", json!({})).await;
        if status == 503 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the default portal's bucket never filled");
    let (status, answer) = app.call_as(&p.webhook, "server.time", json!({})).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_portal_is_found_by_its_host_name_when_the_call_carries_no_credential() {
    let app = spawn_app().await;
    new_portal(&app, "shut").await;
    let output = app
        .cli()
        .args(["--portal", "shut", "portal", "close"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let port = app.base.rsplit(':').next().unwrap();
    let ask = |host: String| {
        let request = app
            .client
            .get(format!("{}/rest/server.time", app.base))
            .header("Host", host);
        async move { read(request.send().await.unwrap()).await }
    };
    let closed = || envelope("PORTAL_DELETED", "Portal was deleted");
    eventually_async(
        || ask(format!("shut.localhost:{port}")),
        |(s, b)| *s == 403 && *b == closed(),
    )
    .await;
    let (status, answer) = ask(format!("127.0.0.1:{port}")).await;
    assert_eq!(status, 401, "{answer}");
    let (status, _) = ask(format!("default.localhost:{port}")).await;
    assert_eq!(status, 401);
}

/// Asks until `done` holds (the server applies CLI changes within a second).
async fn eventually_async<F, Fut>(mut ask: F, done: impl Fn(&(u16, Value)) -> bool)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    let mut last = (0, Value::Null);
    for _ in 0..60 {
        last = ask().await;
        if done(&last) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never applied; last answer {last:?}");
}

#[tokio::test]
async fn the_cli_creates_lists_and_deletes_portals_and_other_commands_take_portal() {
    let app = spawn_app().await;
    let output = app
        .cli()
        .args([
            "portal",
            "create",
            "--name",
            "w-1",
            "--plan",
            "unlimited",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["portal"], "w-1");
    let webhook = created["webhook"].as_str().unwrap();
    // The server takes in a portal the CLI made at its first call.
    let (status, answer) = app.call_as(webhook, "user.current", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let output = app
        .cli()
        .args(["--portal", "w-1", "user", "create", "--name", "Second One"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "2");
    let (_, users) = app.call_as(webhook, "user.get", json!({})).await;
    assert_eq!(users["total"], 2, "{users}");
    let (_, default_users) = app.call("user.get", json!({})).await;
    assert_eq!(default_users["total"], 1);
    let output = app
        .cli()
        .args(["portal", "list", "--json"])
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(list["portals"][1]["portal"], "w-1");
    assert_eq!(list["portals"][1]["plan"], "unlimited");
    let output = app
        .cli()
        .args(["--portal", "nope", "user", "create", "--name", "X"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("there is no portal named 'nope'"));
    let output = app
        .cli()
        .args(["portal", "delete", "w-1"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    eventually_async(
        || app.call_as(webhook, "user.current", json!({})),
        |(status, _)| *status == 401,
    )
    .await;
}

#[tokio::test]
async fn an_application_created_once_is_authorized_per_portal_and_its_tokens_answer_with_that_portal(
) {
    let app = spawn_app().await;
    let p = new_portal(&app, "shop").await;
    let store = &app.state.store;
    let scopes = b24_server::admin::parse_scopes(Some("crm,user")).unwrap();
    let credentials = b24_server::oauth::create_app(
        store,
        b24_server::store::DEFAULT_PORTAL,
        "Marketplace app",
        &scopes,
        "",
    )
    .unwrap();
    let now = app.state.clock.now();
    let code = b24_server::oauth::authorize(
        store,
        portal_id(&app, "shop"),
        &credentials.client_id,
        1,
        now,
        30.0,
    )
    .unwrap();
    let token = |params: Value| {
        let request = app
            .client
            .post(format!("{}/oauth/token/", app.base))
            .form(&params);
        async move { read(request.send().await.unwrap()).await }
    };
    let (status, tokens) = token(json!({
        "grant_type": "authorization_code", "client_id": credentials.client_id,
        "client_secret": credentials.client_secret, "code": code,
    }))
    .await;
    assert_eq!(status, 200, "{tokens}");
    let port = app.base.rsplit(':').next().unwrap();
    assert_eq!(tokens["domain"], format!("shop.localhost:{port}"));
    assert_eq!(tokens["member_id"], p.answer["member_id"]);
    assert_eq!(
        tokens["client_endpoint"],
        format!("http://shop.localhost:{port}/rest/")
    );
    // The token acts on portal shop's rows.
    let access = tokens["access_token"].as_str().unwrap();
    let (status, added) = app
        .post_form(
            &format!("{}/rest/crm.item.add", app.base),
            &format!("auth={access}&entityTypeId=2&fields[title]=via-token"),
        )
        .await;
    assert_eq!(status, 200, "{added}");
    let (_, list) = app
        .call_as(&p.webhook, "crm.item.list", json!({"entityTypeId": 2}))
        .await;
    assert_eq!(list["result"]["items"][0]["title"], "via-token");
    let list = app.ok("crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(list["items"], json!([]));
    // The refresh grant answers with the same portal.
    let (status, renewed) = token(json!({
        "grant_type": "refresh_token", "client_id": credentials.client_id,
        "client_secret": credentials.client_secret, "refresh_token": tokens["refresh_token"],
    }))
    .await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(renewed["member_id"], p.answer["member_id"]);
}

/// One operation of the isolation property, on one portal.
#[derive(Debug, Clone)]
enum Op {
    Add {
        entity_type_id: i64,
        title: u8,
    },
    Update {
        entity_type_id: i64,
        id: i64,
        title: u8,
    },
    Delete {
        entity_type_id: i64,
        id: i64,
    },
    Get {
        entity_type_id: i64,
        id: i64,
    },
    List {
        entity_type_id: i64,
    },
    Todo {
        deal: i64,
    },
    Activities,
    AddUser,
    Users,
}

impl Op {
    fn call(&self) -> (&'static str, Value) {
        match *self {
            Op::Add {
                entity_type_id,
                title,
            } => (
                "crm.item.add",
                json!({"entityTypeId": entity_type_id, "fields": {"title": format!("t{title}")}}),
            ),
            Op::Update {
                entity_type_id,
                id,
                title,
            } => (
                "crm.item.update",
                json!({"entityTypeId": entity_type_id, "id": id,
                       "fields": {"title": format!("u{title}")}}),
            ),
            Op::Delete { entity_type_id, id } => (
                "crm.item.delete",
                json!({"entityTypeId": entity_type_id, "id": id}),
            ),
            Op::Get { entity_type_id, id } => (
                "crm.item.get",
                json!({"entityTypeId": entity_type_id, "id": id}),
            ),
            Op::List { entity_type_id } => (
                "crm.item.list",
                json!({"entityTypeId": entity_type_id, "order": {"id": "asc"}}),
            ),
            Op::Todo { deal } => (
                "crm.activity.todo.add",
                json!({"ownerTypeId": 2, "ownerId": deal, "title": "todo",
                       "deadline": "2030-01-01T10:00:00+00:00"}),
            ),
            Op::Activities => ("crm.activity.list", json!({"order": {"ID": "asc"}})),
            Op::AddUser => (
                "user.add",
                json!({"EMAIL": "someone@example.test", "NAME": "Some", "LAST_NAME": "One"}),
            ),
            Op::Users => ("user.get", json!({"sort": "ID", "order": "ASC"})),
        }
    }
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let entity = prop_oneof![Just(2i64), Just(3i64), Just(1i64)];
    prop_oneof![
        3 => (entity.clone(), any::<u8>()).prop_map(|(entity_type_id, title)| Op::Add { entity_type_id, title }),
        2 => (entity.clone(), 1..5i64, any::<u8>())
            .prop_map(|(entity_type_id, id, title)| Op::Update { entity_type_id, id, title }),
        1 => (entity.clone(), 1..5i64).prop_map(|(entity_type_id, id)| Op::Delete { entity_type_id, id }),
        1 => (entity.clone(), 1..5i64).prop_map(|(entity_type_id, id)| Op::Get { entity_type_id, id }),
        1 => entity.prop_map(|entity_type_id| Op::List { entity_type_id }),
        1 => (1..4i64).prop_map(|deal| Op::Todo { deal }),
        1 => Just(Op::Activities),
        1 => Just(Op::AddUser),
        1 => Just(Op::Users),
    ]
}

/// An answer with what differs between any two servers taken out: the `time` block, instants,
/// and the host a URL names.
fn comparable(status: u16, mut body: Value, base: &str) -> (u16, Value) {
    fn scrub(value: &mut Value, base: &str) {
        match value {
            Value::String(s) => {
                let looks_like_instant = s.len() >= 19
                    && s.as_bytes()[4] == b'-'
                    && s.as_bytes()[10] == b'T'
                    && s[..4].bytes().all(|b| b.is_ascii_digit());
                if looks_like_instant && !s.starts_with("2030-") {
                    *s = "<instant>".into();
                } else if s.contains(base) {
                    *s = s.replace(base, "<base>");
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, base)),
            Value::Object(map) => map.values_mut().for_each(|v| scrub(v, base)),
            _ => {}
        }
    }
    if let Some(map) = body.as_object_mut() {
        map.remove("time");
    }
    scrub(&mut body, base);
    (status, body)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 8, ..Default::default() })]

    /// Several portals on one server answer every operation exactly as servers holding one
    /// of them alone do.
    #[test]
    fn every_portal_answers_as_a_server_holding_it_alone(
        ops in proptest::collection::vec((0..3usize, op()), 1..30)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let shared = spawn_app().await;
            let mut webhooks = Vec::new();
            for i in 0..3 {
                webhooks.push(new_portal(&shared, &format!("iso-{i}")).await.webhook);
            }
            let mut alone = Vec::new();
            for _ in 0..3 {
                alone.push(spawn_app().await);
            }
            for (step, (portal, op)) in ops.iter().enumerate() {
                let (method, params) = op.call();
                let (status, body) = shared.call_as(&webhooks[*portal], method, params.clone()).await;
                let there = comparable(status, body, &shared.base);
                let solo = &alone[*portal];
                let (status, body) = solo.call(method, params).await;
                let here = comparable(status, body, &solo.base);
                assert_eq!(there, here, "step {step}: {op:?} on portal {portal}");
            }
        });
    }
}

#[tokio::test]
async fn each_portal_journals_its_own_calls() {
    let app = spawn_app().await;
    let p = new_portal(&app, "j").await;
    app.call_as(&p.webhook, "crm.item.list", json!({"entityTypeId": 2}))
        .await;
    app.call("server.time", json!({})).await;
    let methods = |portal: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app
                .control(
                    Method::GET,
                    &format!("/journal?limit=100&portal={portal}"),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{body}");
            body["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["method"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(methods("j").await, ["crm.item.list"]);
    assert_eq!(methods("default").await, ["server.time"]);
}
