"""Testing code that calls Bitrix24, with pytest, against b24-server instead of a paid portal.

Run it with a fresh server around the whole session:

    b24-server exec -- pytest examples/testing/python

`exec` starts an ephemeral server on free ports and sets B24_WEBHOOK, B24_URL, B24_ADMIN_URL,
B24_ADMIN_TOKEN, B24_DATA_DIR and REQUESTS_CA_BUNDLE for the tests; the server and its data are
gone when pytest ends.
"""

import json
import os
import subprocess

import pytest
import requests

WEBHOOK = os.environ["B24_WEBHOOK"]  # http://127.0.0.1:PORT/rest/1/CODE/
SERVER = os.environ["B24_URL"]
ADMIN = os.environ["B24_ADMIN_URL"]  # the test-double controls, /_b24
ADMIN_AUTH = {"Authorization": "Bearer " + os.environ["B24_ADMIN_TOKEN"]}


def admin(method, path, body=None):
    """Calls a control of the admin API and returns its JSON answer (None for 204)."""
    response = requests.request(method, ADMIN + path, json=body, headers=ADMIN_AUTH, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def b24(*args):
    """The command line, on the test server's database (exec sets B24_DATA_DIR)."""
    done = subprocess.run(["b24-server", *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def call(method, params=None):
    """A REST call through the administrator's webhook, as the code under test would make it."""
    return requests.post(WEBHOOK + method, json=params or {}, timeout=30)


@pytest.fixture(autouse=True)
def clean_portal():
    """Every test starts from an empty CRM: ids from 1, no faults, real time, an empty journal."""
    admin("POST", "/reset")


def test_ids_start_at_one_in_every_test():
    deal = call("crm.item.add", {"entityTypeId": 2, "fields": {"title": "First deal"}})
    assert deal.status_code == 200
    assert deal.json()["result"]["item"]["id"] == 1


def test_the_third_call_fails_with_a_503_and_the_journal_shows_it():
    admin("POST", "/faults", {
        "match": {"method": "crm.item.list"},
        "after": 2,
        "times": 1,
        "action": {"error": "QUERY_LIMIT_EXCEEDED"},
    })
    statuses = [call("crm.item.list", {"entityTypeId": 2}).status_code for _ in range(4)]
    assert statuses == [200, 200, 503, 200]
    refused = admin("GET", "/journal?method=crm.item.list&error=QUERY_LIMIT_EXCEEDED")
    assert len(refused["entries"]) == 1


def test_an_access_token_expires_an_hour_later_and_the_refresh_renews_it():
    app = json.loads(b24("app", "create", "--name", "Under test", "--scopes", "crm"))
    code = b24("app", "authorize", "--client-id", app["client_id"], "--user", "1")
    grant = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    tokens = requests.get(SERVER + "/oauth/token/", timeout=30, params={
        **grant, "grant_type": "authorization_code", "code": code}).json()

    admin("POST", "/clock", {"advance_s": 3601})  # an hour passes in a millisecond
    expired = requests.post(SERVER + "/rest/server.time", data={"auth": tokens["access_token"]})
    assert (expired.status_code, expired.json()["error"]) == (401, "expired_token")

    renewed = requests.get(SERVER + "/oauth/token/", timeout=30, params={
        **grant, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).json()
    fresh = requests.post(SERVER + "/rest/server.time", data={"auth": renewed["access_token"]})
    assert fresh.status_code == 200


def test_a_new_deal_sends_an_event_to_the_handler():
    b24("events", "webhook", "add", "--event", "ONCRMDEALADD", "--url", "http://127.0.0.1:9/deal")
    call("crm.deal.add", {"fields": {"TITLE": "Evented"}})
    # Waits up to 5 s for the first delivery, without polling in the test.
    captured = admin("GET", "/events?event=ONCRMDEALADD&wait_ms=5000")
    assert "data%5BFIELDS%5D%5BID%5D=1" in captured["entries"][0]["body"]
