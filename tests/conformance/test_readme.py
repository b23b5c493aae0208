"""Every fenced code block of README.md runs as a newcomer would run it: in order, each twice,
from one working directory, against servers started by the README's own `kmsd serve` blocks.

Shell blocks run through bash, Python blocks through this environment's Python (the one the SDKs
are installed in, first on PATH for the shell blocks too). A `kmsd serve` block is started in the
background, stopped and started again, and left running for the blocks after it. Blocks that are
samples, not commands, are checked against what the server really writes. A README block that
matches no entry of BLOCKS fails the test, so a new block cannot go untested.

The only changes made to the README's text before running it (SUBSTITUTIONS):
- `./target/release/kmsd` (and the quick start's `kmsd`) is the binary under test (KMSD_BIN),
  and neither `cargo build --release` nor `cargo install` is run: the suite tests the binary it
  was given.
- The README's ports (8740, 8741, 8443, 8760 and the cluster's) are free ports, so the test can
  run beside anything; the tour's server, whose block names no `--listen`, gets its port from
  KMSD_LISTEN.
- The working directory gets the repository's `examples/`, as a clone has it, for dev mode's
  fixtures.
- `0.0.0.0` is 127.0.0.1, so no test listens on every interface.
- `/etc/kmsd` and `/var/lib/kmsd` are directories of the test's own (the first holds a
  certificate made by a throwaway CA), and `kms.example.internal` is `localhost`, which that
  certificate names.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.retry import StandardRetryer
from tencentcloud.kms.v20190118 import models

from conftest import KMSD_BIN, ROOT, KmsdProcess, free_port, make_client
from test_tls import ThrowawayCa

README = ROOT / "README.md"
REQUIREMENTS = ROOT / "tests" / "conformance" / "requirements.txt"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
RUNS = 2


def readme_blocks():
    return [(language, text) for language, text in BLOCK.findall(README.read_text())]


class Reader:
    """A newcomer's working directory and shell, and the servers started from it."""

    def __init__(self, tmp_path):
        self.cwd = tmp_path / "clone"
        self.cwd.mkdir()
        self.etc = tmp_path / "etc-kmsd"
        self.etc.mkdir()
        self.var = tmp_path / "var-lib-kmsd"
        ca = ThrowawayCa(self.etc)
        cert, key, _ = ca.issue("kms.example.internal")
        (self.etc / "tls.crt").write_bytes(cert)
        (self.etc / "tls.key").write_bytes(key)
        home = tmp_path / "home"  # tccli keeps its configuration under HOME
        home.mkdir()
        self.ports = {port: free_port() for port in ("8740", "8741", "8443", "8751", "8752", "8753",
                                                     "8760")}
        env = {k: v for k, v in os.environ.items() if not k.startswith("KMSD_")}
        env.update(HOME=str(home), PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
                   KMSD_LISTEN=f"127.0.0.1:{self.ports['8740']}",
                   # the pip block must not wait on the network to ask whether pip is current
                   PIP_DISABLE_PIP_VERSION_CHECK="1")
        self.env = env
        self.servers = {}
        self.serving_line = None  # the tour server's start-up line, which the log sample shows
        self.samples = None  # the test's own server, whose audit record and JSON log are samples

    def substitute(self, text):
        text = text.replace("cargo build --release\n", "")
        text = text.replace("./target/release/kmsd", KMSD_BIN)
        text = text.replace("/etc/kmsd", str(self.etc)).replace("/var/lib/kmsd", str(self.var))
        text = text.replace("0.0.0.0:", "127.0.0.1:").replace("kms.example.internal:", "localhost:")
        for port, free in self.ports.items():
            text = text.replace(f":{port}", f":{free}")
        return text

    def endpoint(self, port):
        return f"127.0.0.1:{self.ports[port]}"

    def sh(self, text):
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", self.substitute(text)], cwd=self.cwd,
                             env=self.env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def python(self, text):
        out = subprocess.run([sys.executable, "-c", self.substitute(text)], cwd=self.cwd, env=self.env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def serve(self, name, text, port, https=False):
        """Starts the block's server in the background and waits until it serves; answers its log."""
        log = self.cwd.parent / f"{name}.log"
        offset = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as sink:
            proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", self.substitute(text)], cwd=self.cwd,
                                    env=self.env, stdout=sink, stderr=sink, start_new_session=True)
        self.servers[name] = proc
        scheme, verify = ("https", str(self.etc / "ca.pem")) if https else ("http", True)
        deadline = time.time() + 20
        while time.time() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                if requests.get(f"{scheme}://{self.endpoint(port)}/healthz", verify=verify,
                                timeout=1).status_code == 200:
                    return log.read_bytes()[offset:].decode()
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{name} did not serve: {log.read_text()}")

    def stop(self, name):
        proc = self.servers.pop(name)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=20) == 0

    def stop_all(self):
        for name in list(self.servers):
            self.stop(name)


def serving_line(log, message):
    lines = [line for line in log.splitlines() if message in line]
    assert len(lines) == 1, log
    return lines[0]


# ---- what each block must do; `(language, marker)` names the one block it covers ----

def quick_start(reader, text):
    """The three lines: the install is not run (the suite tests the binary it was given, as
    for `cargo build --release`); dev mode starts as written, the binary under test on a free
    port, and the env file it wrote gives the shell its endpoint and credential."""
    install, dev, load = text.splitlines()
    assert install.startswith("cargo install --locked --path crates/kmsd ")
    shutil.copytree(ROOT / "examples", reader.cwd / "examples", dirs_exist_ok=True)
    dev = dev.replace("kmsd dev", f"{KMSD_BIN} dev --listen 127.0.0.1:8760", 1)
    for _ in range(RUNS):
        assert "kmsd dev is serving" in reader.serve("quick", dev, "8760")
        loaded = reader.sh(load + "\necho \"$KMSD_ENDPOINT $TENCENTCLOUD_SECRET_ID $HUAWEICLOUD_SDK_AK\"")
        endpoint, secret_id, ak = loaded.split()
        assert endpoint == reader.endpoint("8760") and secret_id == ak and secret_id.startswith("AKID")
        reader.stop("quick")


def start_the_server(reader, text):
    for run in range(RUNS):
        log = reader.serve("tour", text, "8740")
        line = serving_line(log, "kmsd is serving plain HTTP")
        assert f"listen={reader.endpoint('8740')} " in line
        assert f"data_dir={reader.cwd / 'kms-data'} " in line
        reader.serving_line = line
        if run < RUNS - 1:
            reader.stop("tour")


def start_up_log_sample(reader, text):
    """The sample is the tour server's line: the same message and fields in the same order."""
    sample = text.strip()
    real = reader.serving_line
    message = "kmsd is serving plain HTTP "
    assert sample.startswith("INFO " + message) and f" INFO {message}" in real
    fields = re.compile(r" (\w+)=")
    assert fields.findall(sample) == fields.findall(real), (sample, real)


def not_run_test_suite(reader, text):
    """Not run: it is the whole suite, this test included."""
    assert text == "scripts/test.sh\n"


def install_the_sdks(reader, text):
    """The pins are the suite's, and installing them into the suite's environment changes nothing."""
    pins = dict(re.findall(r"([\w.-]+)==([\w.]+)", text))
    suite = dict(re.findall(r"^([\w.-]+)==([\w.]+)$", REQUIREMENTS.read_text(), re.M))
    assert pins and all(suite.get(name) == version for name, version in pins.items()), (pins, suite)
    for _ in range(RUNS):
        assert "Successfully installed" not in reader.sh(text)


def start_dev_mode(reader, text):
    """Dev mode with the repository's example fixtures, which a clone holds."""
    shutil.copytree(ROOT / "examples", reader.cwd / "examples", dirs_exist_ok=True)
    for run in range(RUNS):
        assert "kmsd dev is serving" in reader.serve("dev", text, "8760")
        if run < RUNS - 1:
            reader.stop("dev")


def dev_mode_client(reader, text):
    """Run as the text says: with kmsd-dev.env loaded into the environment, nothing else."""
    env_file = (reader.cwd / "kmsd-dev.env").read_text()
    loaded = dict(line.split("=", 1) for line in env_file.splitlines() if line and not line.startswith("#"))
    assert loaded["KMSD_ENDPOINT"] == reader.endpoint("8760")
    plain_env = reader.env
    reader.env = {**plain_env, **loaded}
    try:
        for _ in range(RUNS):
            assert reader.python(text) == "b'order 42'\n"
    finally:
        reader.env = plain_env
    reader.stop("dev")


def tencent_tour(reader, text):
    for _ in range(RUNS):
        assert reader.python(text) == "b'card 4111'\n"


def tccli_tour(reader, text):
    for _ in range(RUNS):
        listed = json.loads(reader.sh(text))
        assert listed["TotalCount"] == RUNS, "each run of the Tencent tour made a key"
        assert len(listed["Keys"]) == RUNS


def huawei_tour(reader, text):
    for _ in range(RUNS):
        assert reader.python(text) == "card 4111\n"


def start_https_server(reader, text):
    for run in range(RUNS):
        log = reader.serve("https", text, "8443", https=True)
        assert f"listen={reader.endpoint('8443')} " in serving_line(log, "kmsd is serving HTTPS")
        assert (reader.var / "root-credentials.json").exists()
        if run < RUNS - 1:
            reader.stop("https")


def https_client(reader, text):
    for _ in range(RUNS):
        assert reader.python(text) == "True\n"


def admin_commands(reader, text):
    for _ in range(RUNS):
        out = reader.sh(text)
        account = json.loads((reader.cwd / "account.json").read_text())
        assert account["secret_key"] and account["project_id"]
        # account list's table, then the user, the policy, its attachment, the user's credential
        # (in the new account, the user's, with its secret key shown once) and the password
        assert out.startswith("UIN "), out
        assert re.search(r"^name +billing$", out, re.M) and re.search(r"^name +kms-all$", out, re.M), out
        user = re.search(r"^id +(\d+)$", out, re.M).group(1)
        credential = re.search(r"^account +(\d+)\nc.*\n.*\nsecret_id +AKID\w+\nsecret_key +\w+\nuser +(\d+)$",
                               out, re.M)
        assert credential and credential.groups() == (str(account["uin"]), user), out
        assert out.count("done\n") == 2, "the attachment and the password"
    # The user's policy allows it everything; its credential works in both dialects.
    tenant = make_client(reader.endpoint("8740"), secret_id=account["secret_id"],
                         secret_key=account["secret_key"])
    assert tenant.ListKeys(models.ListKeysRequest()).TotalCount == 0, "a new account starts empty"


def iam_token(reader, text):
    for _ in range(RUNS):
        assert reader.python(text) == "True\n"


def audit_record_sample(reader, text):
    """The sample has exactly the fields of a real record."""
    sample = json.loads(text)
    real = json.loads(reader.samples.audit_path.read_text().splitlines()[0])
    assert sample.keys() == real.keys(), (sorted(sample), sorted(real))
    assert (sample["dialect"], sample["outcome"], sample["status"]) == ("tencent", "ok", 200)


def json_log_sample(reader, text):
    """The sample is the start of a JSON log: the serving line, with fields the real one has."""
    sample = json.loads(text)
    real = next(json.loads(line) for line in reader.samples.log_path.read_text().splitlines()
                if "kmsd is serving" in line)
    assert (sample["level"], sample["message"]) == (real["level"], real["message"])
    assert sample.keys() <= real.keys()


def start_fault_server(reader, text):
    for run in range(RUNS):
        log = reader.serve("faults", text, "8741")
        assert "FAULT MODE IS ON" in log
        if run < RUNS - 1:
            reader.stop("faults")


def retry_in_own_code(reader, text):
    for _ in range(RUNS):
        assert reader.python(text) == "20\n"


def start_a_cluster(reader, text):
    """Three nodes over a database of the test's own (the README's `kms`), each run answering
    through every node with the same keys."""
    database = "kmsd_readme_" + os.urandom(6).hex()
    text = text.replace("postgres kms\n", f"postgres {database}\n").replace("5432/kms\n", f"5432/{database}\n")
    try:
        for _ in range(RUNS):
            reader.serve("cluster", text, "8753")
            deadline = time.time() + 20
            while not all(_healthy(reader.endpoint(p)) for p in ("8751", "8752", "8753")):
                assert time.time() < deadline, "the three nodes did not all serve"
                time.sleep(0.05)
            root = json.loads((reader.cwd / "node-a" / "root-credentials.json").read_text())
            assert not (reader.cwd / "node-b" / "root-credentials.json").exists()
            clients = [make_client(reader.endpoint(p), secret_id=root["secret_id"],
                                   secret_key=root["secret_key"]) for p in ("8751", "8752", "8753")]
            request = models.CreateKeyRequest()
            request.Alias = "cluster-" + os.urandom(4).hex()
            key = clients[0].CreateKey(request).KeyId
            describe = models.DescribeKeyRequest()
            describe.KeyId = key
            deadline = time.time() + 2
            while True:
                try:
                    assert clients[2].DescribeKey(describe).KeyMetadata.Alias == request.Alias
                    break
                except TencentCloudSDKException:
                    assert time.time() < deadline
                    time.sleep(0.01)
            # The block's shell waits on its three nodes: stop them all, as Ctrl-C would.
            shell = reader.servers.pop("cluster")
            os.killpg(shell.pid, signal.SIGTERM)
            shell.wait(timeout=20)
            deadline = time.time() + 20
            while any(_healthy(reader.endpoint(p)) for p in ("8751", "8752", "8753")):
                assert time.time() < deadline, "a node did not stop"
                time.sleep(0.05)
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--force", database], check=True)
            for node in ("node-a", "node-b", "node-c"):
                subprocess.run(["rm", "-rf", str(reader.cwd / node)], check=True)
    finally:
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--force", "--if-exists", database])


def _healthy(endpoint):
    try:
        return requests.get(f"http://{endpoint}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def haproxy_sample(reader, text):
    """The sample balances over the three nodes the block above starts, checking /healthz."""
    assert "option httpchk GET /healthz" in text
    for port in ("8751", "8752", "8753"):
        assert f"127.0.0.1:{port} check" in text


BLOCKS = {
    ("sh", "cargo install --locked --path"): quick_start,
    ("sh", "kmsd serve            #"): start_the_server,
    ("text", "kmsd is serving"): start_up_log_sample,
    ("sh", "scripts/test.sh"): not_run_test_suite,
    ("sh", "pip install"): install_the_sdks,
    ("sh", "kmsd dev --listen"): start_dev_mode,
    ("python", "EnvironmentVariableCredential"): dev_mode_client,
    ("python", "req.Alias = \"orders-\""): tencent_tour,
    ("sh", "tccli kms ListKeys"): tccli_tour,
    ("python", "huaweicloudsdkkms.v2 import KmsClient, model as m\n\ncreds"): huawei_tour,
    ("sh", "--tls-cert /etc/kmsd/tls.crt"): start_https_server,
    ("python", "protocol=\"https\""): https_client,
    ("sh", "kmsd admin account list"): admin_commands,
    ("python", "keystone_create_user_token_by_password"): iam_token,
    ("json", "\"request_id\""): audit_record_sample,
    ("json", "\"timestamp\""): json_log_sample,
    ("sh", "--fault-rate"): start_fault_server,
    ("python", "with_retries"): retry_in_own_code,
    ("sh", "createdb -h 127.0.0.1"): start_a_cluster,
    ("haproxy", "backend kmsd"): haproxy_sample,
}


def handler_of(language, text):
    found = [h for (lang, marker), h in BLOCKS.items() if lang == language and marker in text]
    assert len(found) == 1, f"no one way to test this README block ({len(found)} match):\n{text}"
    return found[0]


def test_every_readme_block_is_covered_once():
    handlers = [handler_of(language, text) for language, text in readme_blocks()]
    assert sorted(h.__name__ for h in handlers) == sorted(h.__name__ for h in BLOCKS.values())


def test_every_readme_block_runs_twice_in_order(tmp_path):
    reader = Reader(tmp_path)
    # The audit and JSON log samples are checked against a server of the test's own.
    audit_path = tmp_path / "audit.jsonl"
    reader.samples = KmsdProcess(data_dir=tmp_path / "samples",
                                 extra_args=["--audit-log", str(audit_path), "--log-format", "json"]).start()
    reader.samples.audit_path = audit_path
    try:
        request = models.CreateKeyRequest()
        request.Alias = "audited"
        assert reader.samples.client().CreateKey(request).KeyId
        for language, text in readme_blocks():
            handler_of(language, text)(reader, text)
    finally:
        reader.stop_all()
        reader.samples.cleanup()


def test_the_pinned_tencent_retryer_keeps_its_first_error():
    """What the fault-mode section says of the pinned SDK's StandardRetryer: a throttled call
    whose retry succeeds still fails with the first error, and InternalError is not retried."""
    attempts = []

    def throttled_once():
        attempts.append(1)
        if len(attempts) == 1:
            raise TencentCloudSDKException("RequestLimitExceeded", "injected")
        return "answer"

    retryer = StandardRetryer(max_attempts=3, backoff_fn=lambda n: 0)
    with pytest.raises(TencentCloudSDKException) as info:
        retryer.send_request(throttled_once)
    assert (info.value.code, len(attempts)) == ("RequestLimitExceeded", 3)

    attempts.clear()

    def internal_error():
        attempts.append(1)
        raise TencentCloudSDKException("InternalError", "injected")

    with pytest.raises(TencentCloudSDKException):
        retryer.send_request(internal_error)
    assert len(attempts) == 1
