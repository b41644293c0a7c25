"""`python -m b24_server ARGS`: runs the installed binary, as `b24-server ARGS` would."""

import os
import subprocess
import sys

from ._binary import find_binary

if __name__ == "__main__":
    binary = find_binary()
    if sys.platform == "win32":
        sys.exit(subprocess.call([binary, *sys.argv[1:]]))
    os.execvp(binary, [binary, *sys.argv[1:]])
