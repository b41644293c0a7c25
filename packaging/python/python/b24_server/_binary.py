"""Finding the `b24-server` binary this wheel installed (the way ruff's `find_ruff_bin` does)."""

from __future__ import annotations

import os
import platform
import shutil
import sys
import sysconfig
from pathlib import Path

from ._errors import BinaryNotFoundError

#: Set this to a binary's path to use it instead of the one the wheel installed.
BINARY_ENV = "B24_SERVER_BINARY"


def _exe(name: str) -> str:
    return name + (sysconfig.get_config_var("EXE") or "")


def find_binary() -> str:
    """The path of the `b24-server` binary: `$B24_SERVER_BINARY`, else the one installed with this
    package (the scripts folder of its environment), else the first on `PATH`."""
    override = os.environ.get(BINARY_ENV)
    if override:
        if Path(override).is_file():
            return override
        raise BinaryNotFoundError(
            f"{BINARY_ENV}={override} is not a file: point it at a b24-server binary, or unset it "
            "to use the one installed with this package"
        )
    name = _exe("b24-server")
    candidates = [Path(sysconfig.get_path("scripts")) / name]
    user_scheme = {"nt": "nt_user", "posix": "posix_user"}.get(os.name)
    if user_scheme and sys.version_info >= (3, 10):
        candidates.append(Path(sysconfig.get_path("scripts", scheme=user_scheme)) / name)
    # pip install --target puts the scripts beside the package: TARGET/bin/b24-server.
    candidates.append(Path(__file__).resolve().parent.parent / "bin" / name)
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise BinaryNotFoundError(
        f"no b24-server binary for this platform ({sys.platform} {platform.machine()}): the wheel "
        "that installed this package ships it; reinstall with `pip install --force-reinstall "
        "b24-server`, check that your platform has a wheel (pip may have built the pure-Python "
        f"part only), or set {BINARY_ENV} to a binary built with `cargo install b24-server`"
    )
