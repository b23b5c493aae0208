"""`kmsd kms-plugin`: the Kubernetes KMS v2 plugin in front of a running kmsd, driven through a
gRPC client generated here from the repository's proto (the API server's wire definition), as
the API server would call it: Status, Encrypt and Decrypt, through a rotation of the CMK."""

import base64
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import pytest
from grpc_tools import protoc

from conftest import KMSD_BIN, REGION, ROOT, SECRET_ID, SECRET_KEY, call, create_key, free_port
from test_admin import admin, attach_policy, tencent
from test_tls import ThrowawayCa, TlsKmsd

PROTO_DIR = ROOT / "crates" / "kms-kubernetes" / "proto"


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    """The messages and the client stub, generated from our proto with grpcio-tools."""
    out = tmp_path_factory.mktemp("kms_v2_pb")
    assert protoc.main(["protoc", f"-I{PROTO_DIR}", f"--python_out={out}",
                        f"--grpc_python_out={out}", "kms_v2.proto"]) == 0
    sys.path.insert(0, str(out))
    import kms_v2_pb2
    import kms_v2_pb2_grpc
    return kms_v2_pb2, kms_v2_pb2_grpc


class Plugin:
    """One `kmsd kms-plugin` process on a socket of its own."""

    def __init__(self, endpoint_url, key_id, socket_path=None, extra_args=(),
                 secret_id=SECRET_ID, secret_key=SECRET_KEY):
        self.dir = Path(tempfile.mkdtemp(prefix="kms-plugin-"))
        self.socket = Path(socket_path) if socket_path else self.dir / "kms.sock"
        env = dict(os.environ, TENCENTCLOUD_SECRET_ID=secret_id, TENCENTCLOUD_SECRET_KEY=secret_key)
        self.log = open(self.dir / "plugin.log", "w")
        self.proc = subprocess.Popen(
            [KMSD_BIN, "kms-plugin", "--socket", str(self.socket), "--endpoint", endpoint_url,
             "--key-id", key_id, "--region", REGION, *extra_args],
            env=env, stdout=self.log, stderr=self.log)

    def wait_serving(self):
        deadline = time.time() + 20
        while time.time() < deadline:
            assert self.proc.poll() is None, (self.dir / "plugin.log").read_text()
            if self.socket.exists():
                return self
            time.sleep(0.05)
        raise RuntimeError("the plugin did not make its socket")

    def stub(self, pb):
        # gRPC core sends the socket's path, percent-encoded, as the authority, which is no
        # host and the HTTP/2 server refuses (RST_STREAM); the API server sends "localhost"
        # (kubernetes/kubernetes#112597), as this client does.
        channel = grpc.insecure_channel(f"unix://{self.socket}",
                                        options=[("grpc.default_authority", "localhost")])
        return pb[1].KeyManagementServiceStub(channel)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=15)
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def cmk(kms):
    return create_key(kms).KeyId


@pytest.fixture(scope="module")
def plugin(server, cmk):
    p = Plugin(server.url, cmk).wait_serving()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def stub(plugin, pb):
    return plugin.stub(pb)


def status(stub, pb):
    return stub.Status(pb[0].StatusRequest(), timeout=10)


def encrypt(stub, pb, plaintext, uid="uid-encrypt"):
    return stub.Encrypt(pb[0].EncryptRequest(plaintext=plaintext, uid=uid), timeout=10)


def decrypt(stub, pb, sealed, key_id=None, annotations=None):
    return stub.Decrypt(pb[0].DecryptRequest(
        ciphertext=sealed.ciphertext, uid="uid-decrypt",
        key_id=sealed.key_id if key_id is None else key_id,
        annotations=sealed.annotations if annotations is None else annotations), timeout=10)


def serves_then_stops(pb, plugin):
    """Healthy, a round trip, then a clean stop."""
    plugin.wait_serving()
    try:
        stub = plugin.stub(pb)
        assert status(stub, pb).healthz == "ok"
        seed = os.urandom(32)
        assert decrypt(stub, pb, encrypt(stub, pb, seed)).plaintext == seed
    finally:
        assert plugin.stop() == 0


def grpc_code(call_it):
    with pytest.raises(grpc.RpcError) as info:
        call_it()
    return info.value.code()


def test_status_is_healthy_with_the_cmk_version(stub, pb, cmk):
    answer = status(stub, pb)
    assert answer.version == "v2"
    assert answer.healthz == "ok"
    assert answer.key_id == f"{cmk}:1"


def test_encrypt_decrypt_round_trip(stub, pb, cmk):
    seed = os.urandom(32)
    sealed = encrypt(stub, pb, seed, uid="7f3c2a52-2a51-4b1f-9c49-1d6bb0e3c001")
    assert sealed.key_id == status(stub, pb).key_id
    assert 0 < len(sealed.ciphertext) <= 1024
    assert seed not in sealed.ciphertext
    assert dict(sealed.annotations) == {}
    assert decrypt(stub, pb, sealed).plaintext == seed


def test_rotation_changes_the_key_id_and_old_ciphertext_still_opens(kms, stub, pb, cmk):
    old_seed = os.urandom(32)
    old = encrypt(stub, pb, old_seed)
    before = status(stub, pb).key_id
    call(kms, "RotateKey", KeyId=cmk)

    after = status(stub, pb).key_id
    assert after != before
    assert after.startswith(f"{cmk}:")
    new_seed = os.urandom(32)
    new = encrypt(stub, pb, new_seed)
    assert new.key_id == after
    assert decrypt(stub, pb, new).plaintext == new_seed
    # What the API server stored before the rotation opens under the key id it was made with.
    assert decrypt(stub, pb, old).plaintext == old_seed
    assert old.key_id == before
    # The key id must be the ciphertext's own.
    assert grpc_code(lambda: decrypt(stub, pb, old, key_id=after)) == grpc.StatusCode.INVALID_ARGUMENT


def test_hostile_input_answers_grpc_errors(kms, stub, pb, cmk):
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert grpc_code(lambda: encrypt(stub, pb, b"")) == invalid
    # The largest plaintext whose ciphertext is at most 1 kB seals; a longer one is refused.
    assert len(encrypt(stub, pb, b"x" * 974).ciphertext) == 1024
    assert grpc_code(lambda: encrypt(stub, pb, b"x" * 975)) == invalid
    assert grpc_code(lambda: encrypt(stub, pb, b"x" * 3_000_000)) == invalid

    sealed = encrypt(stub, pb, os.urandom(32))
    bad = pb[0].EncryptResponse
    assert grpc_code(lambda: decrypt(stub, pb, bad(ciphertext=b"", key_id=sealed.key_id))) == invalid
    assert grpc_code(lambda: decrypt(stub, pb, bad(ciphertext=b"\x01" * 80, key_id=sealed.key_id))) == invalid
    assert grpc_code(lambda: decrypt(stub, pb, sealed, annotations={"a.example.com": b"x"})) == invalid
    tampered = bytearray(sealed.ciphertext)
    tampered[-1] ^= 1
    assert grpc_code(lambda: decrypt(stub, pb, bad(ciphertext=bytes(tampered), key_id=sealed.key_id))) == invalid

    # A ciphertext of another CMK, or of this one made outside the plugin (without its
    # encryption context), does not open.
    foreign = call(kms, "Encrypt", KeyId=create_key(kms).KeyId, Plaintext="AAAA").CiphertextBlob
    outside = call(kms, "Encrypt", KeyId=cmk, Plaintext="AAAA").CiphertextBlob
    for blob in (foreign, outside):
        raw = bad(ciphertext=base64.b64decode(blob), key_id=status(stub, pb).key_id)
        assert grpc_code(lambda: decrypt(stub, pb, raw)) == invalid
    assert status(stub, pb).healthz == "ok"


def test_a_disabled_cmk_fails_healthz_until_enabled(kms, stub, pb, cmk):
    call(kms, "DisableKey", KeyId=cmk)
    try:
        answer = status(stub, pb)
        assert answer.version == "v2"
        assert answer.healthz != "ok"
        assert "ResourceUnavailable" in answer.healthz
        assert answer.key_id
        assert grpc_code(lambda: encrypt(stub, pb, os.urandom(32))) == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        call(kms, "EnableKey", KeyId=cmk)
    assert status(stub, pb).healthz == "ok"


def test_unreachable_kmsd_is_unhealthy_and_unavailable(pb, cmk):
    # A bare host:port, as `kmsd dev` writes KMSD_ENDPOINT, is plain HTTP.
    p = Plugin(f"127.0.0.1:{free_port()}", cmk).wait_serving()
    try:
        stub = p.stub(pb)
        answer = status(stub, pb)
        assert answer.healthz != "ok" and "unreachable" in answer.healthz
        assert grpc_code(lambda: encrypt(stub, pb, os.urandom(32))) == grpc.StatusCode.UNAVAILABLE
    finally:
        assert p.stop() == 0


def test_socket_is_owner_only_refuses_a_second_plugin_and_is_removed(server, plugin, cmk):
    mode = plugin.socket.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600

    second = Plugin(server.url, cmk, socket_path=plugin.socket)
    assert second.proc.wait(timeout=15) != 0
    second.log.close()
    assert "listening" in (second.dir / "plugin.log").read_text()
    assert plugin.socket.exists()

    not_a_socket = plugin.dir / "regular-file"
    not_a_socket.write_text("keep me")
    third = Plugin(server.url, cmk, socket_path=not_a_socket)
    assert third.proc.wait(timeout=15) != 0
    third.log.close()
    assert not_a_socket.read_text() == "keep me"

    own = Plugin(server.url, cmk).wait_serving()
    assert own.stop() == 0
    assert not own.socket.exists()


def test_https_to_kmsd_with_its_ca_and_plain_http_only_to_this_machine(pb, cmk, tmp_path):
    ca = ThrowawayCa(tmp_path)
    tls = TlsKmsd(ca).start()
    try:
        key = create_key(tls.https_client()).KeyId
        serves_then_stops(pb, Plugin(f"https://localhost:{tls.port}", key,
                                     extra_args=["--ca-cert", str(ca.bundle)]))

        # Without the CA an https endpoint cannot be verified: refused at start.
        unverified = Plugin(f"https://localhost:{tls.port}", key)
        assert unverified.proc.wait(timeout=15) != 0
        unverified.log.close()
        assert "--ca-cert" in (unverified.dir / "plugin.log").read_text()
    finally:
        tls.cleanup()

    # The data keys would cross the network in the clear: refused before connecting.
    remote = Plugin("http://192.0.2.1:8740", cmk)
    assert remote.proc.wait(timeout=15) != 0
    remote.log.close()
    assert "refusing plain HTTP" in (remote.dir / "plugin.log").read_text()
    assert not remote.socket.exists()


def test_a_user_allowed_only_encrypt_and_decrypt_of_the_cmk_runs_the_plugin(server, pb, tmp_path):
    """The setup of docs/kubernetes.md: the plugin's credential can do nothing but its work."""
    account = admin("account", "create", server=server)
    uin = str(account["uin"])
    root = tencent(server, account["secret_id"], account["secret_key"])
    key, other_key = create_key(root).KeyId, create_key(root).KeyId
    user = admin("user", "create", "--account", uin, "k8s-kms-plugin", server=server)
    document = {"version": "2.0", "statement": [{
        "effect": "allow", "action": ["kms:Encrypt", "kms:Decrypt"],
        "resource": [f"qcs::kms:{REGION}:uin/{uin}:key/creatorUin/{uin}/{key}"]}]}
    attach_policy(server, uin, user["id"], "k8s-kms-plugin", document, "cam", tmp_path)
    credential = admin("credential", "create", "--account", uin, "--user", user["id"], server=server)
    secrets = {"secret_id": credential["secret_id"], "secret_key": credential["secret_key"]}

    serves_then_stops(pb, Plugin(server.url, key, **secrets))

    elsewhere = Plugin(server.url, other_key, **secrets).wait_serving()
    try:
        stub = elsewhere.stub(pb)
        assert "UnauthorizedOperation" in status(stub, pb).healthz
        assert grpc_code(lambda: encrypt(stub, pb, os.urandom(32))) == grpc.StatusCode.PERMISSION_DENIED
    finally:
        assert elsewhere.stop() == 0
