"""Server instructions per Encrypt + Decrypt pair, counted by valgrind's callgrind: runs the
server under callgrind twice (N and 3N pairs of pre-signed calls over one keep-alive
connection) and divides the difference, so start-up cost cancels out. Deterministic for a given
binary, unlike wall-clock throughput on a shared machine.

usage: python bench/instructions.py KMSD_BINARY [N] [--huawei] [--user] [--otel]
  N defaults to 200; needs valgrind. --huawei sends the Huawei dialect's encrypt-data and
  decrypt-data (SDK-HMAC-SHA256) instead of Tencent's Encrypt and Decrypt. --user signs them
  as a user of the root account whose CAM policy allows every KMS action, so the policy
  evaluator is on the path; without it the caller is the account's root, who is never
  evaluated. --otel starts the server with --otel-endpoint at an OTLP/gRPC receiver of this
  process (test_otel_traces.py's, which needs opentelemetry-proto), so every call makes a span
  and the export thread's work is counted too.
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
PROJECT_ID = "00000000000000000000000000000bee"
PORT = 18750
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests" / "conformance"))
from huawei_signing import sign_request  # noqa: E402


def huawei_requests(conn, ak, sk):
    """Encrypt-data and decrypt-data requests for a new key, signed with `ak`/`sk` (one date
    for all: the run takes less than the gateway's fifteen minutes)."""
    host = f"127.0.0.1:{PORT}"

    def signed(operation, body):
        path = f"/v1.0/{PROJECT_ID}/kms/{operation}"
        body = json.dumps(body).encode()
        headers = sign_request("POST", path, body=body, host=host, ak=ak, sk=sk,
                               headers={"x-project-id": PROJECT_ID})
        return {"path": path, "body": body, "headers": headers}

    def send(request):
        conn.request("POST", request["path"], body=request["body"], headers=request["headers"])
        answer = conn.getresponse()
        data = answer.read()
        assert answer.status == 200, data
        return json.loads(data)

    key_id = send(signed("create-key", {"key_alias": "instructions"}))["key_info"]["key_id"]
    encrypt = signed("encrypt-data", {"key_id": key_id, "plain_text": "benchmark plaintext"})
    blob = send(encrypt)["cipher_text"]
    return {"encrypt": encrypt, "decrypt": signed("decrypt-data", {"cipher_text": blob})}


def user_credential(binary, data_dir):
    """A user of the root account allowed every KMS action by a CAM policy, made through the
    admin API; answers its SecretId and SecretKey."""
    def admin(*args):
        done = subprocess.run([binary, "admin", "--endpoint", f"http://127.0.0.1:{PORT}",
                               "--token-file", str(data_dir / "admin-token"), "--output", "json", *args],
                              check=True, capture_output=True, text=True, timeout=120)
        return json.loads(done.stdout)

    uin = str(admin("account", "list")["accounts"][0]["uin"])
    user = admin("user", "create", "--account", uin, "bench")
    document = data_dir.parent / "allow-all.json"
    document.write_text(json.dumps({"version": "2.0", "statement": [
        {"effect": "allow", "action": ["kms:*"], "resource": ["*"]}]}))
    admin("policy", "create", "--account", uin, "allow-all", "--language", "cam", "--document", str(document))
    admin("policy", "attach", "--account", uin, "--user", user["id"], "allow-all")
    credential = admin("credential", "create", "--account", uin, "--user", user["id"])
    return credential["secret_id"], credential["secret_key"]


def total_instructions(binary, pairs, huawei, as_user, otel):
    work = Path(tempfile.mkdtemp())
    collector = None
    traces = []
    if otel:
        from test_otel_traces import Collector
        collector = Collector()
        traces = ["--otel-endpoint", collector.endpoint]
    out = work / "callgrind.out"
    env = dict(os.environ, KMSD_ROOT_SECRET_ID=SECRET_ID, KMSD_ROOT_SECRET_KEY=SECRET_KEY,
               KMSD_ROOT_PROJECT_ID=PROJECT_ID, KMSD_LOG="warn",
               # A limit no run reaches: the limiter is on the path and never refuses.
               KMSD_RATE_LIMIT="1000000")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "serve",
         "--listen", f"127.0.0.1:{PORT}", "--data-dir", str(work / "data"), *traces],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            probe = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            probe.request("GET", "/healthz")
            probe.getresponse().read()
            break
        except OSError:
            time.sleep(0.2)
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    secret_id, secret_key = user_credential(binary, work / "data") if as_user else (SECRET_ID, SECRET_KEY)
    if huawei:
        requests = huawei_requests(conn, secret_id, secret_key)
    else:
        subprocess.run([sys.executable, str(BENCH / "presign.py"), f"127.0.0.1:{PORT}",
                        secret_id, secret_key, str(work)], check=True, stdout=subprocess.DEVNULL)
        requests = {name: dict(json.loads((work / f"{name}.json").read_text()), path="/")
                    for name in ["encrypt", "decrypt"]}
    for name in ["encrypt", "decrypt"]:
        request = requests[name]
        for _ in range(pairs):
            conn.request("POST", request["path"], body=request["body"], headers=request["headers"])
            answer = conn.getresponse()
            data = answer.read()
            assert answer.status == 200 and b'"Error"' not in data, data
    server.send_signal(signal.SIGTERM)
    server.wait()
    if collector:
        collector.stop()
        # Every call's span was exported, the last ones at the stop.
        assert len(collector.spans()) >= 2 * pairs, len(collector.spans())
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit("callgrind wrote no totals")


args = [a for a in sys.argv[1:] if a not in ("--huawei", "--user", "--otel")]
huawei = "--huawei" in sys.argv
as_user = "--user" in sys.argv
otel = "--otel" in sys.argv
binary = args[0]
n = int(args[1]) if len(args) > 1 else 200
small = total_instructions(binary, n, huawei, as_user, otel)
large = total_instructions(binary, 3 * n, huawei, as_user, otel)
dialect = "Huawei encrypt-data + decrypt-data" if huawei else "Encrypt + Decrypt"
caller = "a user" if as_user else "the root"
traced = ", traced" if otel else ""
print(f"{binary}: {(large - small) / (2 * n):,.0f} instructions per {dialect} pair, as {caller}{traced}")
