"""The errors of the helper; each says what to do about it."""

from __future__ import annotations


class B24ServerError(RuntimeError):
    """Anything that went wrong starting, reaching or controlling a b24-server."""


class BinaryNotFoundError(B24ServerError):
    """No `b24-server` binary for this platform (or `B24_SERVER_BINARY` points nowhere)."""


class ServerExitedError(B24ServerError):
    """The server process ended before it was ready; the message holds its last log lines."""

    def __init__(self, message: str, log_tail: str) -> None:
        super().__init__(message)
        self.log_tail = log_tail


class ServerNotReadyError(B24ServerError):
    """The server did not write its ready file in time."""


class AdminError(B24ServerError):
    """A control of the admin API (`/_b24/…`) answered with an error."""

    def __init__(self, status: int, error: str, description: str, route: str) -> None:
        super().__init__(f"{route} answered {status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.route = route


class PortalsUnavailableError(AdminError):
    """This server has no portals route (`POST /_b24/portals`): it holds one portal only."""

    def __init__(self, status: int, error: str, description: str, route: str) -> None:
        super().__init__(status, error, description, route)
        self.args = (
            f"{route} answered {status}: this b24-server holds one portal only; "
            "use reset() between tests instead, or upgrade b24-server for a portal per test",
        )
