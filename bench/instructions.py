"""Server instructions per Encrypt + Decrypt pair, counted by valgrind's callgrind: runs the
server under callgrind twice (N and 3N pairs of pre-signed calls over one keep-alive
connection) and divides the difference, so start-up cost cancels out. Deterministic for a given
binary, unlike wall-clock throughput on a shared machine.

usage: python bench/instructions.py KMSD_BINARY [N]   (N defaults to 200; needs valgrind)
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SECRET_ID = "AKIDloadtest00000000000000000000000"
SECRET_KEY = "loadtestsecretkey000000000000000"
PORT = 18750
BENCH = Path(__file__).resolve().parent


def total_instructions(binary, pairs):
    work = Path(tempfile.mkdtemp())
    out = work / "callgrind.out"
    env = dict(os.environ, KMSD_ROOT_SECRET_ID=SECRET_ID, KMSD_ROOT_SECRET_KEY=SECRET_KEY,
               KMSD_LOG="warn")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "serve",
         "--listen", f"127.0.0.1:{PORT}", "--data-dir", str(work / "data")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            probe = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            probe.request("GET", "/healthz")
            probe.getresponse().read()
            break
        except OSError:
            time.sleep(0.2)
    subprocess.run([sys.executable, str(BENCH / "presign.py"), f"127.0.0.1:{PORT}", SECRET_ID,
                    SECRET_KEY, str(work)], check=True, stdout=subprocess.DEVNULL)
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    for name in ["encrypt", "decrypt"]:
        request = json.loads((work / f"{name}.json").read_text())
        for _ in range(pairs):
            conn.request("POST", "/", body=request["body"], headers=request["headers"])
            answer = conn.getresponse().read()
            assert b'"Error"' not in answer, answer
    server.send_signal(signal.SIGTERM)
    server.wait()
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit("callgrind wrote no totals")


binary = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
small = total_instructions(binary, n)
large = total_instructions(binary, 3 * n)
print(f"{binary}: {(large - small) / (2 * n):,.0f} instructions per Encrypt + Decrypt pair")
