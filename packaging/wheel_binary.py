"""Copies the b24-server binary out of a wheel, so the npm platform package ships the very binary
the wheel does: `python3 packaging/wheel_binary.py WHEEL OUT_FILE`."""

import shutil
import sys
import zipfile

wheel_path, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel_path) as wheel:
    inner = [n for n in wheel.namelist()
             if n.split("/")[-2:-1] == ["scripts"] and n.split("/")[-1] in ("b24-server", "b24-server.exe")]
    if len(inner) != 1:
        sys.exit(f"{wheel_path} holds {len(inner)} b24-server binaries, not one")
    with wheel.open(inner[0]) as source, open(out, "wb") as target:
        shutil.copyfileobj(source, target)
