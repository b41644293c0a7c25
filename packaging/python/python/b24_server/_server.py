"""Starting a b24-server for tests, and its controls (the admin API under `/_b24/`).

Only the standard library: the package installs offline beside its binary and adds nothing to the
tested project's dependencies.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Type, Union, cast

from ._binary import find_binary
from ._errors import (
    AdminError,
    PortalsUnavailableError,
    ServerExitedError,
    ServerNotReadyError,
)

#: Header that picks the portal an admin call acts on.
PORTAL_HEADER = "X-B24-Portal"

#: Variables a started server must not inherit: `start()` always makes an ephemeral SQLite portal.
_SCRUBBED_ENV = ("B24_DATA_DIR", "B24_DATABASE_URL", "B24_NO_ADMIN", "B24_LISTEN", "B24_TLS_LISTEN")

Json = Any


class _Admin:
    """HTTP calls to the admin API of one server (standard library only)."""

    def __init__(self, url: str, token: str, ca_path: Optional[str]) -> None:
        self.url = url.rstrip("/")
        self.admin_url = self.url + "/_b24"
        self.token = token
        self._ssl = ssl.create_default_context(cafile=ca_path) if ca_path else None

    def call(self, method: str, route: str, body: Optional[Json] = None,
             query: Optional[Mapping[str, Any]] = None, portal: Optional[str] = None,
             timeout: float = 60.0) -> Json:
        url = self.admin_url + route
        if query:
            pairs = {k: v for k, v in query.items() if v is not None}
            if pairs:
                url += "?" + urllib.parse.urlencode(pairs)
        headers = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if portal is not None:
            headers[PORTAL_HEADER] = portal
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._ssl) as answer:
                content = answer.read()
        except urllib.error.HTTPError as failure:
            raise _admin_error(failure, f"{method} /_b24{route}") from None
        except urllib.error.URLError as failure:
            raise AdminError(0, "UNREACHABLE", f"{failure.reason}; is the server at {self.url} "
                             "running?", f"{method} /_b24{route}") from None
        return json.loads(content) if content else None


def _admin_error(failure: urllib.error.HTTPError, route: str) -> AdminError:
    text = failure.read().decode(errors="replace")
    try:
        shown = json.loads(text)
        error, description = str(shown.get("error", "")), str(shown.get("error_description", ""))
    except (ValueError, AttributeError):
        error, description = "", text[:500]
    return AdminError(failure.code, error or "HTTP_ERROR", description, route)


class Clock:
    """The portal's clock: moved by the test instead of waited for (forward only)."""

    def __init__(self, controls: "Controls") -> None:
        self._controls = controls

    def now(self) -> Dict[str, Any]:
        """`{"now": ISO, "offset_s": S, "frozen": bool}`."""
        return self._controls._call("GET", "/clock")

    def advance(self, seconds: float) -> Dict[str, Any]:
        """Moves time forward: `clock.advance(3601)` and an access token has expired."""
        return self._controls._call("POST", "/clock", {"advance_s": seconds})

    def set(self, when: Union[str, datetime]) -> Dict[str, Any]:
        """Moves time forward to an instant (ISO-8601 text or an aware datetime)."""
        text = when.isoformat() if isinstance(when, datetime) else when
        return self._controls._call("POST", "/clock", {"set": text})

    def freeze(self, frozen: bool = True) -> Dict[str, Any]:
        """Makes time stand still (or run again from where it stands, with `False`)."""
        return self._controls._call("POST", "/clock", {"freeze": frozen})

    def real(self) -> Dict[str, Any]:
        """Back to real time."""
        return self._controls._call("DELETE", "/clock")


class Controls:
    """The test-double controls of one portal; `B24Server` and `B24Portal` both have them."""

    _admin: _Admin
    #: The portal these controls act on (`None`: the server's default portal).
    portal: Optional[str]

    def __init__(self, admin: _Admin, portal: Optional[str]) -> None:
        self._admin = admin
        self.portal = portal
        self.clock = Clock(self)

    def _call(self, method: str, route: str, body: Optional[Json] = None,
              query: Optional[Mapping[str, Any]] = None, timeout: float = 60.0) -> Dict[str, Any]:
        # Every control answers a JSON object, or nothing (204) where the caller ignores it.
        answer = self._admin.call(method, route, body, query, self.portal, timeout)
        return cast(Dict[str, Any], answer)

    def reset(self, keep: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """Deletes CRM data, ids, journal, faults, captured events and the clock offset; keeps
        users, webhooks and apps (`keep=[]` wipes those too and answers the new webhook)."""
        return self._call("POST", "/reset", {} if keep is None else {"keep": list(keep)})

    def fault(self, error: Optional[str] = None, *, method: Optional[str] = None,
              via: Optional[str] = None, after: Optional[int] = None,
              times: Optional[int] = None, probability: Optional[float] = None,
              seed: Optional[int] = None,
              action: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Makes the next matching calls fail. `fault("QUERY_LIMIT_EXCEEDED",
        method="crm.item.list", after=2, times=1)` fails the third list call with a 503; other
        failures go in `action`: `{"delay_ms": 500}`, `{"network": "close"}`, …"""
        if (error is None) == (action is None):
            raise ValueError("give either an error code (fault('QUERY_LIMIT_EXCEEDED')) or an "
                             "action (fault(action={'delay_ms': 500})), not both")
        chosen = {"error": error} if error is not None else dict(action or {})
        rule: Dict[str, Any] = {"action": chosen}
        match = {k: v for k, v in (("method", method), ("via", via)) if v is not None}
        if match:
            rule["match"] = match
        for key, value in (("after", after), ("times", times), ("probability", probability),
                           ("seed", seed)):
            if value is not None:
                rule[key] = value
        return self._call("POST", "/faults", rule)

    def faults(self) -> List[Dict[str, Any]]:
        """The fault rules in force."""
        return cast(List[Dict[str, Any]], self._call("GET", "/faults")["faults"])

    def clear_faults(self) -> None:
        """Removes every fault rule."""
        self._call("DELETE", "/faults")

    def journal(self, method: Optional[str] = None, *, error: Optional[str] = None,
                via: Optional[str] = None, since: Optional[int] = None,
                limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """The REST calls made, oldest first, secrets removed. `method` takes `*` patterns
        (`"crm.item.*"`); `error` is a code, `"ANY"` or `"NONE"`."""
        query = {"method": method, "error": error, "via": via, "since": since, "limit": limit}
        answer = self._call("GET", "/journal", query=query)
        return cast(List[Dict[str, Any]], answer["entries"])

    def events(self, event: Optional[str] = None, *, status: Optional[str] = None,
               since: Optional[int] = None, wait: Optional[float] = None) -> List[Dict[str, Any]]:
        """Outbound event deliveries with their form bodies; `wait` seconds for a first new one."""
        wait_ms = None if wait is None else int(wait * 1000)
        query = {"event": event, "status": status, "since": since, "wait_ms": wait_ms}
        timeout = 60.0 + (wait or 0)
        answer = self._call("GET", "/events", query=query, timeout=timeout)
        return cast(List[Dict[str, Any]], answer["entries"])

    def save_snapshot(self, name: str) -> Dict[str, Any]:
        """Saves the portal's data, ids included, under `name`."""
        return self._call("POST", "/snapshots", {"name": name})

    def restore_snapshot(self, name: str) -> Dict[str, Any]:
        """Puts back the data saved under `name`."""
        return self._call("POST", "/snapshots/" + urllib.parse.quote(name, safe="") + "/restore")


class B24Portal(Controls):
    """A portal of its own on a server (`B24Server.new_portal()`): its webhooks and controls."""

    def __init__(self, admin: _Admin, name: str, created: Mapping[str, Any],
                 ca_path: Optional[str]) -> None:
        super().__init__(admin, name)
        self.name = name
        #: The server (`http://127.0.0.1:PORT`), its admin API (`…/_b24`) and admin token; admin
        #: calls for this portal carry `X-B24-Portal: NAME`.
        self.url = admin.url
        self.admin_url = admin.admin_url
        self.admin_token = admin.token
        #: The administrator's all-scope webhook, over HTTP (ends with `/`).
        self.webhook_url: str = created["webhook"]
        #: The same webhook over HTTPS (the official SDKs speak only HTTPS).
        self.https_webhook_url: Optional[str] = created.get("https_webhook")
        #: The portal's domain (`host:port` of the HTTPS listener), as SDKs take it.
        self.domain: Optional[str] = created.get("domain")
        self.member_id: Optional[str] = created.get("member_id")
        #: The local CA that signs the HTTPS certificate.
        self.ca_path = ca_path

    def delete(self) -> None:
        """Removes the portal and everything in it."""
        self._admin.call("DELETE", "/portals/" + urllib.parse.quote(self.name, safe=""))

    def __repr__(self) -> str:
        return f"B24Portal(name={self.name!r}, webhook_url={self.webhook_url!r})"


class B24Server(Controls):
    """A b24-server: started by `B24Server.start()` (and stopped by leaving its `with` block, or
    `stop()`), or one already running, reached with `B24Server.connect()`. Its controls act on the
    server's default portal; `new_portal()` makes another."""

    def __init__(self, *, url: str, admin_token: str, webhook_url: Optional[str] = None,
                 https_url: Optional[str] = None, https_webhook_url: Optional[str] = None,
                 ca_path: Optional[str] = None, plan: Optional[str] = None,
                 process: Optional["subprocess.Popen[bytes]"] = None,
                 workdir: Optional[str] = None) -> None:
        super().__init__(_Admin(url, admin_token, ca_path), None)
        #: `http://127.0.0.1:PORT` (or the URL given to `connect`).
        self.url = url.rstrip("/")
        #: `https://127.0.0.1:PORT`, or None without TLS.
        self.https_url = https_url
        #: The admin API's root, `…/_b24`; call it with `Authorization: Bearer ADMIN_TOKEN`.
        self.admin_url = self.url + "/_b24"
        self.admin_token = admin_token
        #: The administrator's all-scope webhook over HTTP (ends with `/`).
        self.webhook_url = webhook_url
        #: The same webhook over HTTPS, which the official SDKs need.
        self.https_webhook_url = https_webhook_url
        #: The local CA (PEM) to trust for HTTPS: `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`, …
        self.ca_path = ca_path
        #: The request-rate plan the server was started with (None when connected).
        self.plan = plan
        self._process = process
        self._workdir = workdir

    @property
    def domain(self) -> Optional[str]:
        """`127.0.0.1:PORT` of the HTTPS listener: the domain SDKs such as b24pysdk take."""
        if not self.https_url:
            return None
        return urllib.parse.urlsplit(self.https_url).netloc

    @property
    def pid(self) -> Optional[int]:
        """The server's process id (None when connected to a server started elsewhere)."""
        return self._process.pid if self._process else None

    @classmethod
    def start(cls, plan: str = "unlimited", https: bool = True, *, listen: str = "127.0.0.1:0",
              tls_listen: str = "127.0.0.1:0", args: Sequence[str] = (),
              binary: Optional[str] = None, timeout: float = 30.0,
              env: Optional[Mapping[str, str]] = None) -> "B24Server":
        """Starts an ephemeral server (a fresh portal in a temporary directory, free ports) and
        returns once it is ready. `plan` is the request-rate plan (`"standard"` is the real
        service's 2 requests/s); `args` are more `b24-server serve` options."""
        program = binary or find_binary()
        workdir = tempfile.mkdtemp(prefix="b24-server-py-")
        ready = Path(workdir) / "ready.json"
        log_path = Path(workdir) / "server.log"
        command = [program, "serve", "--ephemeral", "--listen", listen, "--plan", plan,
                   "--ready-file", str(ready)]
        command += ["--tls-listen", tls_listen] if https else ["--no-tls"]
        command += list(args)
        child_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        child_env.setdefault("B24_LOG", "warn")
        child_env.update(env or {})
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=child_env, start_new_session=(os.name == "posix"),
            )
        try:
            shown = _wait_ready(process, ready, log_path, timeout)
        except BaseException:
            _end(process)
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return cls(url=shown["http"], admin_token=shown["admin_token"],
                   webhook_url=shown.get("webhook"), https_url=shown.get("https"),
                   https_webhook_url=shown.get("https_webhook"), ca_path=shown.get("ca"),
                   plan=plan, process=process, workdir=workdir)

    @classmethod
    def connect(cls, url: str, admin_token: str, *, webhook_url: Optional[str] = None,
                ca_path: Optional[str] = None) -> "B24Server":
        """A server already running at `url` (`http://HOST:PORT`). Its webhook cannot be read
        back (codes are stored as digests): pass it, or take one from `new_portal()`."""
        health = _Admin(url, admin_token, ca_path).call("GET", "/health")
        https_url = health.get("https")
        https_webhook = None
        if webhook_url and https_url:
            https_webhook = https_url + urllib.parse.urlsplit(webhook_url).path
        return cls(url=url, admin_token=admin_token, webhook_url=webhook_url,
                   https_url=https_url, https_webhook_url=https_webhook,
                   ca_path=ca_path or health.get("ca"))

    def reset(self, keep: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """As `Controls.reset`; after `reset(keep=[])` `webhook_url` is the new webhook."""
        answer = super().reset(keep)
        if answer.get("webhook"):
            self.webhook_url = answer["webhook"]
            self.https_webhook_url = answer.get("https_webhook")
        return answer

    def new_portal(self, name: Optional[str] = None) -> B24Portal:
        """A new, empty portal on this server (a generated name unless given), with its own
        webhook and controls; `portal.delete()` removes it. Raises `PortalsUnavailableError` on a
        server that holds one portal only."""
        try:
            created = self._admin.call("POST", "/portals", {} if name is None else {"name": name})
        except AdminError as failure:
            if failure.status in (404, 405):
                raise PortalsUnavailableError(failure.status, failure.error,
                                              failure.description, failure.route) from None
            raise
        return B24Portal(self._admin, created["portal"], created, self.ca_path)

    def health(self) -> Dict[str, Any]:
        """`{"status": "ok", "version", "backend", "http", "https", "ca"}`."""
        return cast(Dict[str, Any], self._admin.call("GET", "/health"))

    def log(self) -> str:
        """What the server printed so far (started servers only)."""
        if not self._workdir:
            return ""
        try:
            return (Path(self._workdir) / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stops the server (SIGTERM, then a kill after 10 s) and removes its data. Servers
        reached with `connect()` are left running."""
        if self._process is not None:
            _end(self._process)
            self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> "B24Server":
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], value: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"B24Server(url={self.url!r}, webhook_url={self.webhook_url!r})"


def _log_tail(log_path: Path, lines: int = 20) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _wait_ready(process: "subprocess.Popen[bytes]", ready: Path, log_path: Path,
                timeout: float) -> Dict[str, Any]:
    """The ready file's content, once the server wrote it (atomically)."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        if ready.exists():
            return cast(Dict[str, Any], json.loads(ready.read_text()))
        code = process.poll()
        if code is not None:
            tail = _log_tail(log_path)
            hint = ""
            if "in use" in tail.lower():
                hint = (" A port it was told to listen on is in use: pass listen='127.0.0.1:0' "
                        "and tls_listen='127.0.0.1:0' (the defaults) for free ports.")
            raise ServerExitedError(
                f"b24-server exited with status {code} before it was ready.{hint} "
                f"Its last log lines:\n{tail}", tail)
        if time.monotonic() > deadline:
            raise ServerNotReadyError(
                f"b24-server was not ready after {timeout:g} s (no ready file); pass a larger "
                f"timeout= on a slow machine. Its last log lines:\n{_log_tail(log_path)}")
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def _end(process: "subprocess.Popen[bytes]") -> None:
    if process.poll() is not None:
        return
    if os.name == "posix":
        process.send_signal(signal.SIGTERM)
    else:
        process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
