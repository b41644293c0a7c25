"""The pytest plugin (entry point `pytest11`), shaped like pytest-postgresql's fixtures:

- `b24_server` (session): one server per test session, and so one per pytest-xdist worker;
  or the server `--b24-url` names.
- `b24` (function): a fresh portal for the test (`B24Server.new_portal()`, deleted after it),
  or, on a server that holds one portal only, that portal reset before the test.
- `b24_env` (function): `b24`, with `B24_WEBHOOK`, `B24_HTTPS_WEBHOOK`, `B24_DOMAIN`,
  `B24_URL`, `B24_ADMIN_URL`, `B24_ADMIN_TOKEN`, `REQUESTS_CA_BUNDLE` and `SSL_CERT_FILE` set
  for code that reads them (the variables `b24-server exec` sets).
- `@pytest.mark.b24(plan="standard")`: the test runs on a server with that request-rate plan
  (started once per session and plan).
"""

from __future__ import annotations

import os
from typing import Dict, Iterator, Optional, Union

import pytest

from ._errors import PortalsUnavailableError
from ._server import B24Portal, B24Server

#: What the `b24` fixture gives: a portal of the test's own, or the server's only portal, reset.
Portal = Union[B24Portal, B24Server]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("b24", "b24-server (Bitrix24 test double)")
    group.addoption(
        "--b24-url", metavar="URL", default=None,
        help="Use the b24-server running at URL (http://HOST:PORT) instead of starting one; "
             "its admin token comes from --b24-admin-token or B24_ADMIN_TOKEN",
    )
    group.addoption(
        "--b24-admin-token", metavar="TOKEN", default=None,
        help="The admin token of the server --b24-url names (default: $B24_ADMIN_TOKEN)",
    )
    group.addoption(
        "--b24-webhook", metavar="URL", default=None,
        help="A webhook of the server --b24-url names (default: $B24_WEBHOOK; without it each "
             "test gets a new portal, or the portal is reset with its auth and a new webhook)",
    )
    group.addoption(
        "--b24-plan", metavar="PLAN", default="unlimited",
        help="Request-rate plan of the server the plugin starts: unlimited (default), standard "
             "(2 requests/s, as the real service) or enterprise",
    )


def _admin_token(config: pytest.Config) -> Optional[str]:
    return config.getoption("--b24-admin-token") or os.environ.get("B24_ADMIN_TOKEN")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--b24-url") and not _admin_token(config):
        raise pytest.UsageError(
            "--b24-url needs the server's admin token: pass --b24-admin-token TOKEN or set "
            "B24_ADMIN_TOKEN (`b24-server admin token` prints it)")
    config.addinivalue_line(
        "markers",
        "b24(plan): run the test on a b24-server with this request-rate plan "
        "(standard, enterprise or unlimited)",
    )


@pytest.fixture(scope="session")
def b24_server(request: pytest.FixtureRequest) -> Iterator[B24Server]:
    """The session's b24-server: started on free ports (one per xdist worker) and stopped at the
    end, or the one `--b24-url` names."""
    config = request.config
    url: Optional[str] = config.getoption("--b24-url")
    if url:
        token = _admin_token(config) or ""
        webhook = config.getoption("--b24-webhook") or os.environ.get("B24_WEBHOOK")
        yield B24Server.connect(url, token, webhook_url=webhook)
        return
    with B24Server.start(plan=config.getoption("--b24-plan")) as server:
        yield server


class _ServersByPlan:
    """Servers for `@pytest.mark.b24(plan=…)`, started when a test first asks for a plan."""

    def __init__(self, main: B24Server) -> None:
        self.main = main
        self.started: Dict[str, B24Server] = {}

    def for_plan(self, plan: Optional[str]) -> B24Server:
        if plan is None or plan == self.main.plan:
            return self.main
        if self.main.pid is None:
            pytest.fail(f"@pytest.mark.b24(plan={plan!r}) needs a server the plugin starts; "
                        "with --b24-url, start that server with the plan instead "
                        f"(b24-server serve --plan {plan})", pytrace=False)
        if plan not in self.started:
            self.started[plan] = B24Server.start(plan=plan)
        return self.started[plan]

    def stop(self) -> None:
        for server in self.started.values():
            server.stop()


@pytest.fixture(scope="session")
def _b24_servers(b24_server: B24Server) -> Iterator[_ServersByPlan]:
    servers = _ServersByPlan(b24_server)
    yield servers
    servers.stop()


#: Servers known to hold one portal only (no `POST /_b24/portals`), by admin URL.
_single_portal: Dict[str, bool] = {}


@pytest.fixture
def b24(request: pytest.FixtureRequest, _b24_servers: _ServersByPlan) -> Iterator[Portal]:
    """A clean portal for this test: a new portal of its own (deleted after the test), or the
    server's portal reset when the server holds one portal only. It has `webhook_url`,
    `https_webhook_url`, `ca_path` and the controls (`reset`, `fault`, `clock`, `journal`,
    `events`)."""
    marker = request.node.get_closest_marker("b24")
    plan = marker.kwargs.get("plan") if marker else None
    server = _b24_servers.for_plan(plan)
    if not _single_portal.get(server.admin_url):
        try:
            portal = server.new_portal()
        except PortalsUnavailableError:
            _single_portal[server.admin_url] = True
        else:
            try:
                yield portal
            finally:
                portal.delete()
            return
    # One portal only: a reset, which also gives a webhook when none is known (keep=[]).
    server.reset(keep=None if server.webhook_url else [])
    yield server


@pytest.fixture
def b24_env(b24: Portal, monkeypatch: pytest.MonkeyPatch) -> Portal:
    """`b24`, with the variables `b24-server exec` sets pointing at it, for code that reads its
    configuration from the environment (and requests/aiohttp trusting the local CA)."""
    variables = {
        "B24_WEBHOOK": b24.webhook_url,
        "B24_HTTPS_WEBHOOK": b24.https_webhook_url,
        "B24_DOMAIN": b24.domain,
        "B24_URL": b24.url,
        "B24_ADMIN_URL": b24.admin_url,
        "B24_ADMIN_TOKEN": b24.admin_token,
        "REQUESTS_CA_BUNDLE": b24.ca_path,
        "SSL_CERT_FILE": b24.ca_path,
    }
    for name, value in variables.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    if b24.portal:
        monkeypatch.setenv("B24_PORTAL", b24.portal)
    return b24
