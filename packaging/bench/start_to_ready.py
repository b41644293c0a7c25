"""Start-to-ready of `B24Server.start()`: from the call to its return (the ready file read), over
N starts (default 30), each followed by `stop()`. Run it with the Python the wheel is installed in:

    target/packaging/py-test/bin/python packaging/bench/start_to_ready.py [N]
"""

import statistics
import sys
import time

from b24_server import B24Server

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
B24Server.start().stop()  # warm the page cache
times = []
for _ in range(runs):
    began = time.perf_counter()
    server = B24Server.start()
    times.append((time.perf_counter() - began) * 1000)
    server.stop()
times.sort()
print(f"python B24Server.start(), {runs} starts: min {times[0]:.0f} ms, median "
      f"{statistics.median(times):.0f} ms, p90 {times[int(runs * 0.9) - 1]:.0f} ms, "
      f"max {times[-1]:.0f} ms")
