"""b24-server for Python tests: start a Bitrix24 test double, reset it, make calls fail, move
its clock, read what your code sent.

    from b24_server import B24Server

    with B24Server.start() as server:
        use(server.https_webhook_url, ca=server.ca_path)

The pytest plugin (`b24_server.plugin`, loaded automatically) gives the fixtures `b24_server`,
`b24` and `b24_env`.
"""

from ._binary import BINARY_ENV, find_binary
from ._errors import (
    AdminError,
    B24ServerError,
    BinaryNotFoundError,
    PortalsUnavailableError,
    ServerExitedError,
    ServerNotReadyError,
)
from ._server import B24Portal, B24Server, Clock, Controls

__all__ = [
    "BINARY_ENV",
    "AdminError",
    "B24Portal",
    "B24Server",
    "B24ServerError",
    "BinaryNotFoundError",
    "Clock",
    "Controls",
    "PortalsUnavailableError",
    "ServerExitedError",
    "ServerNotReadyError",
    "find_binary",
]
