//! Secrets never reach the log, nor the admin API (journal, export, captured events): with every log level switched on (ours and our dependencies'),
//! a session that uses every kind of secret — webhook codes, client secrets, authorisation codes,
//! access and refresh tokens, wrong codes — and provokes an internal error leaves no trace of any
//! of them in the output. Its own binary, because it installs a global log subscriber.

use b24_server::{oauth, Application, ServeConfig};
use b24_test_support::TestSchema;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_ever_contains_a_secret() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .init();

    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path().to_path_buf(), "127.0.0.1:0".parse().unwrap());
    // With B24_TEST_POSTGRES_URL, the same session against PostgreSQL (whose driver logs
    // statements and parameters at debug level: only digests may appear there).
    let schema = b24_test_support::postgres_url().map(|base| TestSchema::create(&base));
    config.database_url = schema.as_ref().map(|s| s.url.clone());
    let app = Application::build(config).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let webhook_code = app.first_start().unwrap().webhook_code.clone();
    let store = app.state().store.clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::new();
    let mut secrets = vec![webhook_code.clone()];
    let sentinel = "SENTINELwrongcode0123456789abcdef";
    secrets.push(sentinel.to_string());

    // Webhook calls, good and bad.
    let ok = client
        .get(format!("{base}/rest/1/{webhook_code}/server.time"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let bad = client
        .get(format!("{base}/rest/1/{sentinel}/server.time"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    // An application: client secret, code, access and refresh tokens.
    let scopes = vec!["crm".to_string()];
    let credentials = oauth::create_app(&store, 1, "Secret test", &scopes, "").unwrap();
    secrets.push(credentials.client_secret.clone());
    secrets.push(credentials.application_token.clone());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let code = oauth::authorize(&store, 1, &credentials.client_id, 1, now, 30.0).unwrap();
    secrets.push(code.clone());
    let tokens: Value = client
        .post(format!("{base}/oauth/token/"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.as_str()),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    secrets.push(access.clone());
    secrets.push(refresh.clone());
    // An event handler: its payload carries a freshly minted access token and the application
    // token, neither of which may be logged by us or by the HTTP client.
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let inbox = received.clone();
    let receiver = axum::Router::new().route(
        "/handler/",
        axum::routing::post(move |body: String| {
            let inbox = inbox.clone();
            async move { inbox.lock().unwrap().push(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handler = format!("http://{}/handler/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let bound = client
        .post(format!("{base}/rest/event.bind"))
        .bearer_auth(&access)
        .json(&json!({"event": "ONCRMDEALADD", "handler": handler}))
        .send()
        .await
        .unwrap();
    assert_eq!(bound.status(), 200);
    let call = client
        .post(format!("{base}/rest/crm.item.add"))
        .bearer_auth(&access)
        .json(&json!({"entityTypeId": 2, "fields": {"title": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let payload = loop {
        if let Some(body) = received.lock().unwrap().first().cloned() {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "no event arrived");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let event_token = payload
        .split('&')
        .find_map(|pair| pair.strip_prefix("auth%5Baccess_token%5D="))
        .expect("the payload carries a token")
        .to_string();
    assert_eq!(event_token.len(), 64);
    secrets.push(event_token);
    let renewed = client
        .get(format!(
            "{base}/oauth/token/?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={refresh}",
            credentials.client_id, credentials.client_secret
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), 200);
    let wrong_secret = client
        .get(format!(
            "{base}/oauth/token/?grant_type=refresh_token&client_id={}&client_secret={sentinel}&refresh_token={refresh}",
            credentials.client_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_secret.status(), 400);

    // An internal failure is logged with its cause — and still without the credentials.
    match &schema {
        Some(schema) => schema.execute(
            "CREATE FUNCTION injected() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RAISE EXCEPTION 'injected'; END $$;
             CREATE TRIGGER injected BEFORE INSERT ON crm_items
                 FOR EACH ROW EXECUTE FUNCTION injected();",
        ),
        None => {
            let conn =
                r2d2_sqlite::rusqlite::Connection::open(dir.path().join("b24.sqlite3")).unwrap();
            conn.execute_batch(
                "CREATE TRIGGER injected BEFORE INSERT ON crm_items BEGIN SELECT RAISE(ABORT, 'injected'); END;",
            )
            .unwrap();
        }
    }
    let failed = client
        .post(format!(
            "{base}/rest/1/{webhook_code}/crm.item.add?auth={access}"
        ))
        .json(&json!({"entityTypeId": 2, "fields": {"title": "y"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 500);

    // Nor does the admin API show any: the journal, the export, captured events, faults and
    // snapshots — nor the admin token itself.
    let admin_token = std::fs::read_to_string(dir.path().join("admin-token"))
        .unwrap()
        .trim()
        .to_string();
    let admin = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{base}/_b24{path}"))
            .bearer_auth(&admin_token)
    };
    let saved = admin(reqwest::Method::POST, "/snapshots")
        .json(&json!({"name": "s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 201);
    let mut shown = String::new();
    for path in [
        "/journal?limit=1000",
        "/export",
        "/events?limit=1000",
        "/faults",
        "/snapshots",
        "/clock",
        "/health",
    ] {
        let response = admin(reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        shown.push_str(&response.text().await.unwrap());
    }
    assert!(shown.contains("crm.item.add"), "the journal was read");
    for secret in secrets.iter().chain([&admin_token]) {
        assert!(
            !shown.contains(secret.as_str()),
            "a secret reached the admin API: {secret}"
        );
    }
    secrets.push(admin_token);

    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    assert!(
        log.contains("injected"),
        "the internal error's cause is logged"
    );
    assert!(log.contains("rest call"), "requests are logged");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret reached the log: {secret}"
        );
    }
    drop(schema);
}
