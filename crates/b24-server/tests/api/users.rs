//! `user.get`, `user.search`, `user.fields`, `user.admin`, `user.add`, `user.update` and
//! `user.current` (docs: api-reference/user/): one store with the CLI's users, the fields each
//! user scope shows, filters, order, paging, and every error's envelope.

use crate::helpers::{envelope, spawn_app, TestApp};
use serde_json::{json, Value};

/// Every field a `user`-scope caller gets, in the order the real service answers them.
const FULL_FIELDS: &[&str] = &[
    "ID",
    "XML_ID",
    "ACTIVE",
    "NAME",
    "LAST_NAME",
    "SECOND_NAME",
    "TITLE",
    "EMAIL",
    "LAST_LOGIN",
    "DATE_REGISTER",
    "TIME_ZONE",
    "TIME_ZONE_OFFSET",
    "IS_ONLINE",
    "TIMESTAMP_X",
    "LAST_ACTIVITY_DATE",
    "PERSONAL_GENDER",
    "PERSONAL_PROFESSION",
    "PERSONAL_WWW",
    "PERSONAL_BIRTHDAY",
    "PERSONAL_PHOTO",
    "PERSONAL_ICQ",
    "PERSONAL_PHONE",
    "PERSONAL_FAX",
    "PERSONAL_MOBILE",
    "PERSONAL_PAGER",
    "PERSONAL_STREET",
    "PERSONAL_CITY",
    "PERSONAL_STATE",
    "PERSONAL_ZIP",
    "PERSONAL_COUNTRY",
    "PERSONAL_MAILBOX",
    "PERSONAL_NOTES",
    "WORK_PHONE",
    "WORK_COMPANY",
    "WORK_POSITION",
    "WORK_DEPARTMENT",
    "WORK_WWW",
    "WORK_FAX",
    "WORK_PAGER",
    "WORK_STREET",
    "WORK_MAILBOX",
    "WORK_CITY",
    "WORK_STATE",
    "WORK_ZIP",
    "WORK_COUNTRY",
    "WORK_PROFILE",
    "WORK_LOGO",
    "WORK_NOTES",
    "UF_SKYPE_LINK",
    "UF_ZOOM",
    "UF_EMPLOYMENT_DATE",
    "UF_TIMEMAN",
    "UF_DEPARTMENT",
    "UF_INTERESTS",
    "UF_SKILLS",
    "UF_WEB_SITES",
    "UF_XING",
    "UF_LINKEDIN",
    "UF_FACEBOOK",
    "UF_TWITTER",
    "UF_SKYPE",
    "UF_DISTRICT",
    "UF_PHONE_INNER",
    "USER_TYPE",
];

/// The fields `user_brief` shows (api-reference/user/user-scope.md).
const BRIEF_FIELDS: &[&str] = &[
    "ID",
    "XML_ID",
    "ACTIVE",
    "NAME",
    "LAST_NAME",
    "SECOND_NAME",
    "TITLE",
    "DATE_REGISTER",
    "TIME_ZONE",
    "TIME_ZONE_OFFSET",
    "IS_ONLINE",
    "TIMESTAMP_X",
    "LAST_ACTIVITY_DATE",
    "PERSONAL_GENDER",
    "PERSONAL_PROFESSION",
    "PERSONAL_BIRTHDAY",
    "PERSONAL_PHOTO",
    "PERSONAL_CITY",
    "PERSONAL_STATE",
    "PERSONAL_COUNTRY",
    "WORK_POSITION",
    "WORK_CITY",
    "WORK_STATE",
    "WORK_COUNTRY",
    "UF_EMPLOYMENT_DATE",
    "UF_TIMEMAN",
    "UF_DEPARTMENT",
    "UF_INTERESTS",
    "UF_SKILLS",
    "UF_PHONE_INNER",
];

fn keys(record: &Value) -> Vec<String> {
    record
        .as_object()
        .expect("a user is an object")
        .keys()
        .cloned()
        .collect()
}

fn is_iso_midnight(value: &Value) -> bool {
    let text = value.as_str().unwrap_or("");
    text.len() == 25 && text[10..].starts_with("T00:00:00") && text.ends_with("+00:00")
}

fn is_iso_time(value: &Value) -> bool {
    let text = value.as_str().unwrap_or("");
    text.len() == 25 && text.as_bytes()[10] == b'T' && text.ends_with("+00:00")
}

fn is_db_time(value: &Value) -> bool {
    let text = value.as_str().unwrap_or("");
    text.len() == 19 && text.as_bytes()[10] == b' ' && text.as_bytes()[4] == b'-'
}

/// The full error envelope of `user.add`'s `ERROR_ARGUMENT` answers: `argument` is empty.
fn argument_error(description: &str) -> Value {
    json!({"error": "ERROR_ARGUMENT", "error_description": description, "argument": ""})
}

/// Invites a user through `user.add` as the administrator; returns the id.
async fn invite(app: &TestApp, fields: Value) -> i64 {
    let id = app.ok("user.add", fields).await;
    id.as_i64()
        .unwrap_or_else(|| panic!("user.add answers an integer: {id}"))
}

async fn get_one(app: &TestApp, id: i64) -> Value {
    let (status, body) = app.call("user.get", json!({"ID": id})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1, "{body}");
    body["result"][0].clone()
}

async fn ids_of(app: &TestApp, params: Value) -> Vec<String> {
    let (status, body) = app.call("user.get", params.clone()).await;
    assert_eq!(status, 200, "{params}: {body}");
    body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["ID"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn user_get_answers_the_administrator_with_every_field_in_the_real_types() {
    let app = spawn_app().await;

    let (status, body) = app.call("user.get", json!({})).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert!(body.get("next").is_none());
    let admin = &body["result"][0];
    assert_eq!(keys(admin), FULL_FIELDS);
    assert_eq!(admin["ID"], "1");
    assert_eq!(admin["XML_ID"], Value::Null);
    assert_eq!(admin["ACTIVE"], true);
    assert_eq!(admin["NAME"], "Administrator");
    assert_eq!(admin["LAST_NAME"], "");
    assert_eq!(admin["EMAIL"], "");
    assert_eq!(admin["UF_DEPARTMENT"], json!([1]));
    assert_eq!(admin["USER_TYPE"], "employee");
    assert_eq!(admin["IS_ONLINE"], "Y");
    assert_eq!(admin["TIME_ZONE_OFFSET"], "0");
    assert!(is_iso_time(&admin["LAST_LOGIN"]), "{admin}");
    assert!(is_iso_midnight(&admin["DATE_REGISTER"]), "{admin}");
    // The real user.get encodes its date objects as `{}` (api-reference/user/user-get.md).
    assert_eq!(admin["TIMESTAMP_X"], json!({}));
    assert_eq!(admin["LAST_ACTIVITY_DATE"], json!({}));
    assert_eq!(admin["PERSONAL_BIRTHDAY"], "");
    assert_eq!(admin["UF_EMPLOYMENT_DATE"], "");
    assert_eq!(admin["WORK_POSITION"], "");
}

#[tokio::test]
async fn user_current_answers_the_same_record_as_user_get_with_database_times() {
    let app = spawn_app().await;
    let id = invite(
        &app,
        json!({"EMAIL": "ann@example.com", "NAME": "Ann", "UF_DEPARTMENT": [1],
               "PERSONAL_BIRTHDAY": "1990-05-17", "XML_ID": "ext-7"}),
    )
    .await;
    app.ok("user.update", json!({"ID": 1, "WORK_POSITION": "CEO"}))
        .await;

    let (status, body) = app.call("user.current", json!({})).await;
    let listed = get_one(&app, 1).await;

    assert_eq!(status, 200, "{body}");
    let current = &body["result"];
    assert_eq!(keys(current), FULL_FIELDS);
    for field in FULL_FIELDS {
        if !matches!(*field, "TIMESTAMP_X" | "LAST_ACTIVITY_DATE") {
            assert_eq!(current[field], listed[field], "{field}");
        }
    }
    assert_eq!(current["WORK_POSITION"], "CEO");
    assert!(is_db_time(&current["TIMESTAMP_X"]), "{current}");
    assert!(is_db_time(&current["LAST_ACTIVITY_DATE"]), "{current}");

    // Another user's own view: its XML_ID, birthday, and never-logged-in times.
    let ann = get_one(&app, id).await;
    assert_eq!(ann["XML_ID"], "ext-7");
    assert_eq!(ann["PERSONAL_BIRTHDAY"], "1990-05-17T00:00:00+00:00");
    assert_eq!(ann["LAST_LOGIN"], "");
    assert_eq!(ann["LAST_ACTIVITY_DATE"], Value::Null);
    assert_eq!(ann["IS_ONLINE"], "N");
}

#[tokio::test]
async fn user_add_invites_a_user_that_user_get_and_the_cli_see_as_one_store() {
    let app = spawn_app().await;

    let id = invite(
        &app,
        json!({"EMAIL": "ivan@example.com", "NAME": "Ivan", "LAST_NAME": "Petrov",
               "WORK_POSITION": "Engineer", "PERSONAL_CITY": "Riga", "UF_DEPARTMENT": [1],
               "UF_PHONE_INNER": "123", "PERSONAL_GENDER": "M"}),
    )
    .await;
    let cli_user = app.create_user(&[]);

    assert_eq!(id, 2);
    let ivan = get_one(&app, id).await;
    assert_eq!(ivan["ID"], "2");
    assert_eq!(ivan["EMAIL"], "ivan@example.com");
    assert_eq!(ivan["NAME"], "Ivan");
    assert_eq!(ivan["LAST_NAME"], "Petrov");
    assert_eq!(ivan["WORK_POSITION"], "Engineer");
    assert_eq!(ivan["PERSONAL_CITY"], "Riga");
    assert_eq!(ivan["UF_PHONE_INNER"], "123");
    assert_eq!(ivan["PERSONAL_GENDER"], "M");
    assert_eq!(ivan["UF_DEPARTMENT"], json!([1]));
    assert_eq!(ivan["ACTIVE"], true);
    let cli = get_one(&app, cli_user).await;
    assert_eq!(
        (&cli["NAME"], &cli["LAST_NAME"], &cli["UF_DEPARTMENT"]),
        (&json!("Test"), &json!("User"), &json!([1]))
    );
    // The invited user can be given a webhook like any other: the CLI reads the same row.
    let hook = app.create_webhook(id, Some("user"));
    let (_, me) = app.call_as(&hook, "user.current", json!({})).await;
    assert_eq!(me["result"]["EMAIL"], "ivan@example.com");
}

#[tokio::test]
async fn user_update_changes_fields_and_a_dismissed_user_can_no_longer_call() {
    let app = spawn_app().await;
    let id = invite(&app, json!({"EMAIL": "a@example.com", "UF_DEPARTMENT": 1})).await;
    let hook = app.create_webhook(id, Some("user"));
    let department = app
        .ok("department.add", json!({"NAME": "Sales", "PARENT": 1}))
        .await;

    let result = app
        .ok(
            "user.update",
            json!({"ID": id, "NAME": "Anna", "EMAIL": "anna@example.com",
                   "UF_DEPARTMENT": [department, 1], "UF_EMPLOYMENT_DATE": "01.02.2020"}),
        )
        .await;

    assert_eq!(result, true);
    let anna = get_one(&app, id).await;
    assert_eq!(anna["NAME"], "Anna");
    assert_eq!(anna["EMAIL"], "anna@example.com");
    assert_eq!(anna["UF_DEPARTMENT"], json!([1, department]));
    assert_eq!(anna["UF_EMPLOYMENT_DATE"], "2020-02-01T00:00:00+00:00");
    assert_eq!(app.call_as(&hook, "user.current", json!({})).await.0, 200);

    app.ok("user.update", json!({"ID": id, "ACTIVE": "N"}))
        .await;

    assert_eq!(get_one(&app, id).await["ACTIVE"], false);
    let (status, _) = app.call_as(&hook, "user.current", json!({})).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn filters_come_in_filter_or_at_the_top_level_with_the_documented_operators() {
    let app = spawn_app().await;
    let sales = app
        .ok("department.add", json!({"NAME": "Sales", "PARENT": 1}))
        .await;
    let ivan = invite(
        &app,
        json!({"EMAIL": "ivan@example.com", "NAME": "Ivan", "LAST_NAME": "Petrov",
               "PERSONAL_CITY": "New York", "UF_DEPARTMENT": [sales]}),
    )
    .await;
    let ivana = invite(
        &app,
        json!({"EMAIL": "ivana@example.com", "NAME": "Ivana", "LAST_NAME": "Smith",
               "PERSONAL_CITY": "Los Angeles", "UF_DEPARTMENT": [1]}),
    )
    .await;
    let olga = invite(
        &app,
        json!({"EMAIL": "olga@example.com", "NAME": "Olga", "LAST_NAME": "Ivanova",
               "PERSONAL_CITY": "Boston", "UF_DEPARTMENT": [1, sales]}),
    )
    .await;
    app.ok("user.update", json!({"ID": olga, "ACTIVE": false}))
        .await;
    let s = |id: i64| id.to_string();

    // The documented examples.
    assert_eq!(
        ids_of(&app, json!({"filter": {"NAME": "Iva%"}})).await,
        [s(ivan), s(ivana)]
    );
    assert_eq!(
        ids_of(&app, json!({"filter": {"!%LAST_NAME": "ov"}})).await,
        ["1".to_string(), s(ivana)]
    );
    assert_eq!(
        ids_of(
            &app,
            json!({"FILTER": {"@PERSONAL_CITY": ["New York", "Los Angeles"]}})
        )
        .await,
        [s(ivan), s(ivana)]
    );
    // Top-level keys, case-insensitive parameter names.
    assert_eq!(
        ids_of(&app, json!({"UF_DEPARTMENT": sales})).await,
        [s(ivan), s(olga)]
    );
    assert_eq!(
        ids_of(&app, json!({"uf_department": [sales], "ACTIVE": true})).await,
        [s(ivan)]
    );
    assert_eq!(ids_of(&app, json!({"ACTIVE": "N"})).await, [s(olga)]);
    assert_eq!(
        ids_of(&app, json!({">=ID": ivana, "<ID": olga})).await,
        [s(ivana)]
    );
    assert_eq!(
        ids_of(&app, json!({"EMAIL": "olga@example.com"})).await,
        [s(olga)]
    );
    assert_eq!(
        ids_of(&app, json!({"%EMAIL": "ivan"})).await,
        [s(ivan), s(ivana)]
    );
    assert_eq!(
        ids_of(&app, json!({"NAME_SEARCH": "iva pet"})).await,
        [s(ivan)]
    );
    assert_eq!(
        ids_of(
            &app,
            json!({"USER_TYPE": "employee", "!NAME": "Administrator"})
        )
        .await,
        [s(ivan), s(ivana), s(olga)]
    );
    assert_eq!(ids_of(&app, json!({"IS_ONLINE": "Y"})).await, ["1"]);
    // A key the service does not know is ignored; a value of the wrong type matches nothing.
    assert_eq!(ids_of(&app, json!({"NO_SUCH_FIELD": 1})).await.len(), 4);
    assert_eq!(
        ids_of(&app, json!({"ID": "abc"})).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn sort_and_order_pick_the_field_and_direction() {
    let app = spawn_app().await;
    for (email, last) in [
        ("b@x.io", "Brown"),
        ("a@x.io", "Adams"),
        ("c@x.io", "Clark"),
    ] {
        invite(
            &app,
            json!({"EMAIL": email, "LAST_NAME": last, "UF_DEPARTMENT": [1]}),
        )
        .await;
    }

    let (_, body) = app
        .call(
            "user.get",
            json!({"SORT": "LAST_NAME", "ORDER": "desc", "!ID": 1}),
        )
        .await;
    let names: Vec<&str> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["LAST_NAME"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Clark", "Brown", "Adams"]);
    assert_eq!(
        ids_of(&app, json!({"sort": "ID", "order": "DESC"})).await,
        ["4", "3", "2", "1"]
    );
}

#[tokio::test]
async fn user_search_finds_by_names_and_position_and_find_stands_alone() {
    let app = spawn_app().await;
    invite(
        &app,
        json!({"EMAIL": "p@x.io", "NAME": "Peter", "LAST_NAME": "Stone",
               "WORK_POSITION": "Accountant", "UF_DEPARTMENT": [1]}),
    )
    .await;
    invite(
        &app,
        json!({"EMAIL": "m@x.io", "NAME": "Mary", "LAST_NAME": "Peterson", "UF_DEPARTMENT": [1]}),
    )
    .await;
    let search = |params: Value| {
        let app = &app;
        async move {
            let (status, body) = app.call("user.search", params).await;
            assert_eq!(status, 200, "{body}");
            let names: Vec<String> = body["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["NAME"].as_str().unwrap().to_string())
                .collect();
            (names, body["total"].clone())
        }
    };

    assert_eq!(
        search(json!({"FIND": "peter"})).await,
        (vec!["Peter".to_string(), "Mary".to_string()], json!(2))
    );
    assert_eq!(search(json!({"FIND": "account"})).await.0, ["Peter"]);
    assert_eq!(
        search(json!({"FIND": "peter", "NAME": "Mary"})).await.0,
        ["Peter", "Mary"],
        "FIND is not combined with other keys"
    );
    assert_eq!(search(json!({"NAME": "Mary"})).await.0, ["Mary"]);
}

#[tokio::test]
async fn pages_of_fifty_with_next_and_total_and_start_minus_one_without_them() {
    let app = spawn_app().await;
    let cmd: Vec<String> = (0..50)
        .map(|i| format!("user.add?EMAIL=u{i}@example.com&UF_DEPARTMENT[]=1&NAME=U{i}"))
        .collect();
    let (status, body) = app.call("batch", json!({"cmd": cmd})).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["result_error"], json!([]), "{body}");
    for i in 50..54 {
        invite(
            &app,
            json!({"EMAIL": format!("u{i}@example.com"), "UF_DEPARTMENT": [1]}),
        )
        .await;
    }

    let (_, first) = app.call("user.get", json!({})).await;
    let (_, second) = app.call("user.get", json!({"start": 50})).await;
    let (_, uncounted) = app.call("user.get", json!({"start": -1})).await;

    assert_eq!(first["result"].as_array().unwrap().len(), 50);
    assert_eq!((&first["next"], &first["total"]), (&json!(50), &json!(55)));
    assert_eq!(second["result"].as_array().unwrap().len(), 5);
    assert_eq!(second["result"][0]["ID"], "51");
    assert!(second.get("next").is_none());
    assert_eq!(second["total"], 55);
    assert!(uncounted.get("total").is_none() && uncounted.get("next").is_none());
    assert_eq!(uncounted["result"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn batch_commands_refer_to_an_invited_users_id() {
    let app = spawn_app().await;
    let cmd = json!({
        "add": "user.add?EMAIL=batch@example.com&NAME=Batch&UF_DEPARTMENT[]=1",
        "get": "user.get?ID=$result[add]",
        "dept": "user.get?UF_DEPARTMENT=$result[get][0][UF_DEPARTMENT][0]&SORT=ID",
    });

    let (status, body) = app.call("batch", json!({"cmd": cmd})).await;

    assert_eq!(status, 200);
    let s = &body["result"];
    assert_eq!(s["result_error"], json!([]), "{s}");
    assert_eq!(s["result"]["add"], 2);
    assert_eq!(s["result"]["get"][0]["EMAIL"], "batch@example.com");
    assert_eq!(s["result_total"]["dept"], 2);
}

#[tokio::test]
async fn user_fields_lists_the_titles_of_the_fields_the_scope_shows() {
    let app = spawn_app().await;
    let brief = app.create_webhook(1, Some("user_brief"));

    let full = app.ok("user.fields", json!({})).await;
    let (status, body) = app.call_as(&brief, "user.fields", json!({})).await;

    let listed: Vec<&str> = FULL_FIELDS
        .iter()
        .copied()
        .filter(|f| *f != "TIME_ZONE_OFFSET")
        .collect();
    assert_eq!(keys(&full), listed);
    assert_eq!(full["EMAIL"], "E-Mail");
    assert_eq!(full["UF_DEPARTMENT"], "Units");
    assert_eq!(full["USER_TYPE"], "USER_TYPE");
    assert_eq!(status, 200);
    let brief_listed: Vec<&str> = BRIEF_FIELDS
        .iter()
        .copied()
        .filter(|f| *f != "TIME_ZONE_OFFSET")
        .collect();
    assert_eq!(keys(&body["result"]), brief_listed);
}

#[tokio::test]
async fn user_admin_tells_an_administrator_from_a_user_under_any_scope() {
    let app = spawn_app().await;
    let user = app.create_user(&[]);
    let crm_only = app.create_webhook(user, Some("crm"));

    assert_eq!(app.ok("user.admin", json!({})).await, true);
    let (status, body) = app.call_as(&crm_only, "user.admin", json!({})).await;
    assert_eq!((status, &body["result"]), (200, &json!(false)));
}

#[tokio::test]
async fn the_brief_and_basic_scopes_show_their_subsets_and_ignore_filters_on_hidden_fields() {
    let app = spawn_app().await;
    invite(
        &app,
        json!({"EMAIL": "z@example.com", "UF_DEPARTMENT": [1]}),
    )
    .await;
    let brief = app.create_webhook(1, Some("user_brief"));
    let basic = app.create_webhook(1, Some("user_basic"));

    let (status, body) = app.call_as(&brief, "user.get", json!({"ID": 1})).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&body["result"][0]), BRIEF_FIELDS);
    let (_, current) = app.call_as(&brief, "user.current", json!({})).await;
    assert_eq!(keys(&current["result"]), BRIEF_FIELDS);

    let (_, body) = app.call_as(&basic, "user.get", json!({"ID": 1})).await;
    let shown = keys(&body["result"][0]);
    assert!(shown.contains(&"EMAIL".to_string()));
    assert!(shown.contains(&"PERSONAL_MOBILE".to_string()));
    assert!(!shown.contains(&"LAST_LOGIN".to_string()));
    assert!(!shown.contains(&"USER_TYPE".to_string()));

    // Filtering by a field the scope hides would reveal it: the key is ignored.
    let (_, body) = app
        .call_as(&brief, "user.get", json!({"EMAIL": "z@example.com"}))
        .await;
    assert_eq!(body["total"], 2);
}

#[tokio::test]
async fn a_webhook_without_a_user_scope_cannot_list_users() {
    let app = spawn_app().await;
    let crm_only = app.create_webhook(1, Some("crm"));
    let refused = envelope(
        "insufficient_scope",
        "The request requires higher privileges than provided by the webhook token",
    );

    for method in [
        "user.get",
        "user.search",
        "user.fields",
        "user.add",
        "user.update",
    ] {
        let (status, body) = app.call_as(&crm_only, method, json!({})).await;
        assert_eq!((status, &body), (401, &refused), "{method}");
    }
}

#[tokio::test]
async fn user_add_and_update_are_not_offered_under_the_brief_and_basic_scopes() {
    let app = spawn_app().await;
    let refused = envelope(
        "insufficient_scope",
        "The request requires higher privileges than provided by the webhook token",
    );
    for scope in ["user_brief", "user_basic"] {
        let hook = app.create_webhook(1, Some(scope));
        let (status, body) = app
            .call_as(
                &hook,
                "user.add",
                json!({"EMAIL": "x@example.com", "UF_DEPARTMENT": [1]}),
            )
            .await;
        assert_eq!((status, &body), (401, &refused), "{scope}");
        let (status, body) = app
            .call_as(&hook, "user.update", json!({"ID": 1, "NAME": "X"}))
            .await;
        assert_eq!((status, &body), (401, &refused), "{scope}");
        // `methods` and `method.get` say the same as the calls.
        let (_, listed) = app.call_as(&hook, "methods", json!({})).await;
        let listed: Vec<&str> = listed["result"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(listed.contains(&"user.get"), "{scope}: {listed:?}");
        assert!(!listed.contains(&"user.add"), "{scope}: {listed:?}");
        assert!(!listed.contains(&"user.update"), "{scope}: {listed:?}");
        for (method, available) in [("user.get", true), ("user.add", false)] {
            let (_, answer) = app
                .call_as(&hook, "method.get", json!({ "name": method }))
                .await;
            assert_eq!(
                answer["result"],
                json!({"isExisting": true, "isAvailable": available}),
                "{scope}: {method}"
            );
        }
    }
    assert_eq!(
        app.ok("user.get", json!({}))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_user_who_is_not_an_administrator_may_not_invite_or_change_users() {
    let app = spawn_app().await;
    let user = app.create_user(&[]);
    let hook = app.create_webhook(user, Some("user"));
    let denied = envelope("ERROR_CORE", "access_denied");

    let (status, body) = app
        .call_as(
            &hook,
            "user.add",
            json!({"EMAIL": "new@example.com", "UF_DEPARTMENT": [1]}),
        )
        .await;
    assert_eq!((status, &body), (400, &denied));
    let (status, body) = app
        .call_as(&hook, "user.update", json!({"ID": user, "NAME": "Me"}))
        .await;
    assert_eq!((status, &body), (400, &denied));

    let (_, all) = app.call("user.get", json!({})).await;
    assert_eq!(all["total"], 2, "nothing was created");
    assert_eq!(get_one(&app, user).await["NAME"], "Test");
}

#[tokio::test]
async fn user_add_refuses_bad_invitations_with_the_documented_errors() {
    let app = spawn_app().await;
    invite(
        &app,
        json!({"EMAIL": "taken@example.com", "UF_DEPARTMENT": [1]}),
    )
    .await;
    let cases = [
        (json!({"UF_DEPARTMENT": [1]}), argument_error("wrong_email")),
        (
            json!({"EMAIL": "not-an-address", "UF_DEPARTMENT": [1]}),
            argument_error("wrong_email"),
        ),
        (
            json!({"EMAIL": "TAKEN@example.com", "UF_DEPARTMENT": [1]}),
            argument_error("A user with this email already exists"),
        ),
        (
            json!({"EMAIL": "new@example.com"}),
            argument_error("no_extranet_field"),
        ),
        (
            json!({"EMAIL": "new@example.com", "EXTRANET": "Y"}),
            envelope("ERROR_GROUPID", "Group code not specified"),
        ),
        (
            json!({"EMAIL": "new@example.com", "EXTRANET": "Y", "SONET_GROUP_ID": [5]}),
            envelope("ERROR_NO_GROUP", "Group is specified incorrectly"),
        ),
        (
            json!({"EMAIL": "new@example.com", "UF_DEPARTMENT": [99]}),
            envelope("ERROR_CORE", ""),
        ),
    ];

    for (params, expected) in cases {
        let (status, body) = app.call("user.add", params.clone()).await;
        assert_eq!((status, &body), (400, &expected), "{params}");
    }
    let (_, all) = app.call("user.get", json!({})).await;
    assert_eq!(all["total"], 2, "no refused invitation created a user");
}

#[tokio::test]
async fn user_update_refuses_an_unknown_user_and_a_bad_email_and_changes_nothing() {
    let app = spawn_app().await;
    let id = invite(
        &app,
        json!({"EMAIL": "one@example.com", "UF_DEPARTMENT": [1]}),
    )
    .await;
    invite(
        &app,
        json!({"EMAIL": "two@example.com", "UF_DEPARTMENT": [1]}),
    )
    .await;
    let cases = [
        (
            json!({"ID": 999, "NAME": "X"}),
            envelope("ERROR_CORE", "access_denied"),
        ),
        (
            json!({"NAME": "X"}),
            envelope("ERROR_CORE", "access_denied"),
        ),
        (
            json!({"ID": id, "NAME": "X", "EMAIL": "bad"}),
            argument_error("wrong_email"),
        ),
        (
            json!({"ID": id, "NAME": "X", "EMAIL": "two@example.com"}),
            argument_error("A user with this email already exists"),
        ),
        (
            json!({"ID": id, "NAME": "X", "UF_DEPARTMENT": ["x"]}),
            envelope("ERROR_CORE", ""),
        ),
    ];

    for (params, expected) in cases {
        let (status, body) = app.call("user.update", params.clone()).await;
        assert_eq!((status, &body), (400, &expected), "{params}");
    }
    let one = get_one(&app, id).await;
    assert_eq!(
        (&one["NAME"], &one["EMAIL"]),
        (&json!(""), &json!("one@example.com"))
    );
}

#[tokio::test]
async fn export_and_import_carry_the_profile_and_accept_documents_from_before_it() {
    let app = spawn_app().await;
    let id = invite(
        &app,
        json!({"EMAIL": "kept@example.com", "WORK_POSITION": "Buyer", "UF_DEPARTMENT": [1]}),
    )
    .await;
    let (status, document) = app.control(reqwest::Method::GET, "/export", None).await;
    assert_eq!(status, 200, "{document}");

    let (status, answer) = app
        .control(reqwest::Method::POST, "/import", Some(document.clone()))
        .await;
    assert_eq!(status, 200, "{answer}");
    let kept = get_one(&app, id).await;
    assert_eq!(
        (
            &kept["EMAIL"],
            &kept["WORK_POSITION"],
            &kept["UF_DEPARTMENT"]
        ),
        (&json!("kept@example.com"), &json!("Buyer"), &json!([1]))
    );

    // A document written before users had profiles: no profile keys, a user new here.
    let mut old = document;
    let mut newcomer = old["users"][1].clone();
    let user = newcomer.as_object_mut().unwrap();
    for key in [
        "xmlId",
        "secondName",
        "email",
        "userType",
        "personalBirthday",
        "employmentDate",
        "lastLogin",
        "lastActivity",
        "timestampX",
        "WORK_POSITION",
    ] {
        assert!(user.remove(key).is_some(), "{key} is exported");
    }
    user.insert("id".into(), json!(40));
    old["users"] = json!([newcomer]);
    // Nor did it have the sections of the families added since.
    let first_format = [
        "format",
        "exported",
        "users",
        "types",
        "items",
        "activities",
        "bindings",
        "handlers",
    ];
    old.as_object_mut()
        .unwrap()
        .retain(|key, _| first_format.contains(&key.as_str()));
    let (status, answer) = app
        .control(reqwest::Method::POST, "/import?mode=merge", Some(old))
        .await;
    assert_eq!(status, 200, "{answer}");
    let newcomer = get_one(&app, 40).await;
    assert_eq!(
        (
            &newcomer["EMAIL"],
            &newcomer["USER_TYPE"],
            &newcomer["UF_DEPARTMENT"]
        ),
        (&json!(""), &json!("employee"), &json!([1]))
    );
}

#[tokio::test]
async fn hostile_parameters_get_an_answer_never_a_server_error() {
    let app = spawn_app().await;
    let calls = [
        (
            "user.get",
            json!({"FILTER": "not a map", "SORT": ["x"], "ORDER": {"a": 1}}),
        ),
        (
            "user.get",
            json!({"NAME": "a\u{0}b", "%LAST_NAME": "\u{0}", "NAME_SEARCH": "x\u{0}"}),
        ),
        (
            "user.get",
            json!({"filter": {"@ID": [1, "x", null, {"a": 1}], ">DATE_REGISTER": [1]}}),
        ),
        (
            "user.get",
            json!({"UF_DEPARTMENT": {"a": "b"}, "ACTIVE": "maybe", "IS_ONLINE": []}),
        ),
        ("user.get", json!({"start": "abc", "select": "NAME"})),
        ("user.search", json!({"FIND": {"x": 1}})),
        (
            "user.add",
            json!({"EMAIL": ["a@b.io"], "UF_DEPARTMENT": [1]}),
        ),
        (
            "user.add",
            json!({"EMAIL": "nul\u{0}@x.io", "NAME": "a\u{0}", "UF_DEPARTMENT": [1]}),
        ),
        ("user.update", json!({"ID": {"a": 1}})),
        (
            "user.update",
            json!({"ID": 1, "PERSONAL_BIRTHDAY": "not a date", "ACTIVE": []}),
        ),
        (
            "department.get",
            json!({"NAME": "a\u{0}", "ID": [{"x": 1}], "sort": 5}),
        ),
        ("department.add", json!({"NAME": ["x"], "PARENT": "1"})),
        (
            "department.update",
            json!({"ID": 1, "PARENT": {"a": 1}, "SORT": "abc"}),
        ),
        ("im.notify", json!({"USER_ID": [1], "MESSAGE": "x"})),
        ("im.notify", json!({"USER_ID": 1, "MESSAGE": "a\u{0}b"})),
    ];

    for (method, params) in calls {
        let (status, body) = app.call(method, params.clone()).await;
        assert!(
            status == 200 || (400..500).contains(&status),
            "{method} {params}: {status} {body}"
        );
        assert!(
            body.get("result").is_some() || body["error"].is_string(),
            "{method} {params}: {body}"
        );
    }
    // The administrator is still whole.
    let admin = get_one(&app, 1).await;
    assert_eq!(admin["NAME"], "Administrator");
}

/// A user's stored last activity, as the store holds it.
fn last_activity(app: &TestApp, id: i64) -> String {
    app.state
        .store
        .read(b24_server::store::DEFAULT_PORTAL, |tx| tx.user(id))
        .unwrap()
        .unwrap()
        .last_activity
}

#[tokio::test]
async fn a_users_calls_keep_them_online_with_at_most_one_write_a_minute() {
    let app = spawn_app().await;
    let id = app.create_user(&[]);
    let hook = app.create_webhook(id, None);
    let advance = |seconds: f64| {
        let app = &app;
        async move {
            let (status, body) = app
                .control(
                    reqwest::Method::POST,
                    "/clock",
                    Some(json!({"advance_s": seconds})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    advance(20.0 * 60.0).await;
    assert_eq!(get_one(&app, id).await["IS_ONLINE"], "N", "20 minutes idle");

    let (status, body) = app.call_as(&hook, "user.current", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get_one(&app, id).await["IS_ONLINE"], "Y", "after a call");
    let seen = last_activity(&app, id);

    // Within the minute a call writes nothing; after it, the next call moves the time on.
    advance(30.0).await;
    app.call_as(&hook, "user.current", json!({})).await;
    assert_eq!(last_activity(&app, id), seen);
    advance(31.0).await;
    app.call_as(&hook, "user.current", json!({})).await;
    assert!(
        last_activity(&app, id) > seen,
        "{}",
        last_activity(&app, id)
    );

    // A refused call is no activity.
    let wrong = hook.replace(&hook[hook.len() - 6..], "zzzzz/");
    advance(20.0 * 60.0).await;
    let (status, _) = app.call_as(&wrong, "user.current", json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(get_one(&app, id).await["IS_ONLINE"], "N");
}
