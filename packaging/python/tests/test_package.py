"""Tests of the installed wheel: the binary it ships, `B24Server`, and the pytest plugin.

Run against the wheel installed in a fresh virtual environment (packaging/ci.sh does), from a
folder outside the source tree, so the package under test is the installed one.
"""

import json
import os
import socket
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import pytest

import b24_server
from b24_server import (
    AdminError,
    B24Server,
    BinaryNotFoundError,
    PortalsUnavailableError,
    ServerExitedError,
)

pytest_plugins = ["pytester"]


def rest(webhook, method, params=None):
    """A REST call through a webhook; (HTTP status, answer)."""
    request = urllib.request.Request(webhook + method, data=json.dumps(params or {}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as failure:
        return failure.code, json.loads(failure.read())


def test_the_wheel_installs_the_binary_in_the_environment_and_the_package_finds_it(monkeypatch):
    monkeypatch.delenv("B24_SERVER_BINARY", raising=False)
    binary = Path(b24_server.find_binary())
    assert binary.parent == Path(sysconfig.get_path("scripts"))
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("b24-server ")
    module = subprocess.run([sys.executable, "-m", "b24_server", "--version"], capture_output=True,
                            text=True, check=True)
    assert module.stdout == version.stdout
    assert (Path(b24_server.__file__).parent / "py.typed").is_file()


def test_a_started_server_is_ready_with_both_webhooks_and_stops_with_its_block():
    with B24Server.start() as server:
        assert server.health()["status"] == "ok"
        assert server.webhook_url.startswith(server.url + "/rest/1/")
        assert server.https_webhook_url.startswith("https://" + server.domain + "/rest/1/")
        assert Path(server.ca_path).is_file()
        assert rest(server.webhook_url, "server.time")[0] == 200
        pid = server.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_controls_fail_a_call_move_the_clock_and_show_the_journal():
    with B24Server.start() as server:
        rule = server.fault("QUERY_LIMIT_EXCEEDED", method="crm.item.list", after=1, times=1)
        assert rule["action"] == {"error": "QUERY_LIMIT_EXCEEDED"}
        statuses = [rest(server.webhook_url, "crm.item.list", {"entityTypeId": 2})[0]
                    for _ in range(3)]
        assert statuses == [200, 503, 200]
        refused = server.journal(method="crm.item.*", error="QUERY_LIMIT_EXCEEDED")
        assert [entry["http"] for entry in refused] == [503]

        assert server.clock.advance(3601)["offset_s"] >= 3601
        assert server.reset()["deleted"]["journal"] >= 3
        assert server.clock.now()["offset_s"] < 1
        assert server.journal() == []


def test_a_control_error_names_the_route_and_the_reason():
    with B24Server.start() as server:
        with pytest.raises(AdminError) as refused:
            server.fault("NOT_A_CODE")
        assert refused.value.status == 400
        assert "POST /_b24/faults answered 400" in str(refused.value)
        assert "known codes" in refused.value.description


def test_a_missing_binary_says_how_to_get_one(monkeypatch):
    monkeypatch.setenv("B24_SERVER_BINARY", "/nonexistent/b24-server")
    with pytest.raises(BinaryNotFoundError, match="B24_SERVER_BINARY=/nonexistent/b24-server is not a file"):
        B24Server.start()


def test_a_port_in_use_is_named_with_what_to_do():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerExitedError) as exited:
            B24Server.start(listen=f"127.0.0.1:{port}")
    assert "A port it was told to listen on is in use" in str(exited.value)
    assert f"127.0.0.1:{port}" in exited.value.log_tail


def test_a_server_that_exits_shows_its_last_log_lines():
    with pytest.raises(ServerExitedError, match="unexpected argument '--no-such-option'"):
        B24Server.start(args=["--no-such-option"])


def test_new_portal_gives_a_portal_of_its_own_or_says_to_reset():
    with B24Server.start() as server:
        try:
            portal = server.new_portal()
        except PortalsUnavailableError as unavailable:
            assert "use reset() between tests instead" in str(unavailable)
            return
        assert portal.webhook_url.endswith("/")
        assert rest(portal.webhook_url, "crm.item.add",
                    {"entityTypeId": 2, "fields": {"title": "Own"}})[1]["result"]["item"]["id"] == 1
        portal.fault("QUERY_LIMIT_EXCEEDED", method="server.time")
        assert rest(portal.webhook_url, "server.time")[0] == 503
        assert rest(server.webhook_url, "server.time")[0] == 200  # the default portal is untouched
        portal.delete()


PLUGIN_SUITE = '''
import json, os, urllib.request
import pytest

def add_deal(webhook):
    request = urllib.request.Request(webhook + "crm.item.add", headers={"Content-Type": "application/json"},
        data=json.dumps({"entityTypeId": 2, "fields": {"title": "Deal"}}).encode())
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read())["result"]["item"]["id"]

def test_first(b24):
    assert add_deal(b24.webhook_url) == 1
    b24.fault("QUERY_LIMIT_EXCEEDED", method="server.time")

def test_second_starts_clean(b24):
    assert add_deal(b24.webhook_url) == 1
    assert b24.faults() == []

def test_env(b24_env):
    assert os.environ["B24_WEBHOOK"] == b24_env.webhook_url
    assert os.environ["B24_HTTPS_WEBHOOK"] == b24_env.https_webhook_url
    assert os.environ["REQUESTS_CA_BUNDLE"] == os.environ["SSL_CERT_FILE"] == b24_env.ca_path

def test_one_server_per_session(b24_server, b24):
    assert b24.url == b24_server.url
    assert b24_server.plan == "unlimited"

@pytest.mark.b24(plan="standard")
def test_marker(b24, b24_server):
    assert b24.url != b24_server.url
    b24.clock.freeze()  # no refill: the 51st call is refused however slow the machine
    statuses = []
    for _ in range(51):
        request = urllib.request.Request(b24.webhook_url + "server.time", data=b"{}")
        try:
            with urllib.request.urlopen(request) as answer:
                statuses.append(answer.status)
        except urllib.error.HTTPError as failure:
            statuses.append(failure.code)
    assert statuses == [200] * 50 + [503]
'''


def test_the_plugin_gives_each_test_a_clean_portal_the_environment_and_plans(pytester):
    pytester.makepyfile(PLUGIN_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_the_plugin_uses_a_running_server_named_by_b24_url(pytester):
    pytester.makepyfile('''
import urllib.request

def test_it(b24_server, b24):
    assert b24_server.pid is None
    assert b24.journal() == []
    # The server's own (default) portal; `b24` may be a fresh portal of it, deleted after the test.
    urllib.request.urlopen(
        urllib.request.Request(b24_server.webhook_url + "server.time", data=b"{}"))
''')
    with B24Server.start() as running:
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--b24-url", running.url,
            "--b24-admin-token", running.admin_token, "--b24-webhook", running.webhook_url)
        result.assert_outcomes(passed=1)
        # The test ran there: its call is in that server's journal.
        assert len(running.journal(method="server.time")) == 1


def test_b24_url_without_a_token_says_where_to_find_it(pytester, monkeypatch):
    monkeypatch.delenv("B24_ADMIN_TOKEN", raising=False)
    pytester.makepyfile("def test_it(b24): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--b24-url", "http://127.0.0.1:9")
    result.stderr.fnmatch_lines(["*--b24-url needs the server's admin token*"])
    assert result.ret != 0


def test_each_xdist_worker_has_a_server_of_its_own(pytester, tmp_path):
    pytest.importorskip("xdist")
    record = tmp_path / "urls.txt"
    pytester.makepyfile(f'''
import os

def record(url):
    with open({str(record)!r}, "a") as out:
        out.write(os.environ["PYTEST_XDIST_WORKER"] + " " + url + "\\n")

def test_a(b24_server):
    record(b24_server.url)

def test_b(b24_server):
    record(b24_server.url)
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--dist", "each")
    result.assert_outcomes(passed=4)
    seen = {}
    for line in record.read_text().splitlines():
        worker, url = line.split()
        seen.setdefault(worker, set()).add(url)
    assert len(seen) == 2
    assert all(len(urls) == 1 for urls in seen.values())  # one server per worker, for the session
    assert len(set().union(*seen.values())) == 2
