"""The Shamir seal: `kmsd operator init` splits the unseal key into shares shown once; a server
started with `--seal shamir` refuses every API call (Tencent ServiceUnavailable, Huawei 503
KMS.0101, /healthz 503) until `kmsd admin unseal` was given threshold shares; `kmsd admin seal`
seals it again. Driven through the Tencent and Huawei SDKs and the CLI."""

import base64
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests
from huaweicloudsdkcore.exceptions.exceptions import ServerResponseException
from huaweicloudsdkkms.v2 import model as m

from conftest import KMSD_BIN, KmsdProcess, call, create_key, expect_error
from huawei import huawei_client

SEALED_TENCENT = "ServiceUnavailable"


def kmsd(*args, stdin=None, env=None):
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("KMSD_")}
    run_env.update(env or {})
    return subprocess.run([KMSD_BIN, *args], input=stdin, capture_output=True, text=True,
                          env=run_env, timeout=60)


def init(data_dir, shares=5, threshold=3, *extra):
    done = kmsd("operator", "init", "--data-dir", str(data_dir), "--key-shares", str(shares),
                "--key-threshold", str(threshold), "--output", "json", *extra,
                env={"KMSD_ROOT_SECRET_ID": "AKIDconformance0000000000000000000000",
                     "KMSD_ROOT_SECRET_KEY": "conformanceSecretKey0000000000000",
                     "KMSD_ROOT_PROJECT_ID": "0123456789abcdef0123456789abcdef"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["shares"]


def admin(server, *args, stdin=None, token_file=None):
    return kmsd("admin", "--output", "json", "--endpoint", server.url, "--token-file",
                str(token_file or server.data_dir / "admin-token"), *args, stdin=stdin)


def unseal(server, share, token_file=None):
    done = admin(server, "unseal", stdin=share + "\n", token_file=token_file)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def status(server):
    done = admin(server, "status")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_sealed(server):
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 503
    kms, hw = server.client(), huawei_client(server.endpoint)
    expect_error(SEALED_TENCENT, kms, "ListKeys")
    expect_error(SEALED_TENCENT, kms, "CreateKey", Alias="sealed-attempt")
    expect_error(SEALED_TENCENT, kms, "GenerateRandom", NumberOfBytes=32)
    expect_error(SEALED_TENCENT, kms, "Decrypt", CiphertextBlob=base64.b64encode(b"x" * 64).decode())
    for attempt in (lambda: hw.list_keys(m.ListKeysRequest(body=m.ListKeysRequestBody())),
                    lambda: hw.create_key(m.CreateKeyRequest(body=m.CreateKeyRequestBody(key_alias="sealed-hw"))),
                    lambda: hw.create_random(m.CreateRandomRequest(
                        body=m.GenRandomRequestBody(random_data_length="256")))):
        with pytest.raises(ServerResponseException) as info:
            attempt()
        assert (info.value.status_code, info.value.error_code) == (503, "KMS.0101")
        assert info.value.request_id
    token = requests.post(server.url + "/v3/auth/tokens", json={"auth": {}}, timeout=5)
    assert token.status_code == 503 and token.json()["error"]["error_code"] == "KMS.0101"


def assert_serving(server):
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
    call(server.client(), "ListKeys")


@pytest.fixture(scope="module")
def sealed():
    data_dir = Path(tempfile.mkdtemp(prefix="kmsd-shamir-"))
    shares = init(data_dir)
    proc = KmsdProcess(data_dir=data_dir, extra_args=["--seal", "shamir"]).start(ready_status=503)
    proc.shares = shares
    yield proc
    proc.cleanup()


def test_init_shows_shares_once_and_stores_none(sealed):
    shares = sealed.shares
    assert len(shares) == 5 and len(set(shares)) == 5
    assert all(len(s) == 78 and int(s, 16) >= 0 for s in shares)
    for path in sealed.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for share in shares:
                assert share.encode() not in content, f"{path} holds a share"
                assert bytes.fromhex(share)[3:35] not in content, f"{path} holds a share's bytes"
    assert (sealed.data_dir / "admin-token").exists()
    held = kmsd("operator", "init", "--data-dir", str(sealed.data_dir), "--key-shares", "5",
                "--key-threshold", "3")
    assert held.returncode != 0 and "holds the data directory" in held.stderr, held.stderr


def test_init_refuses_a_data_dir_that_holds_a_store(tmp_path):
    first = init(tmp_path / "d")
    again = kmsd("operator", "init", "--data-dir", str(tmp_path / "d"), "--key-shares", "5",
                 "--key-threshold", "3")
    assert again.returncode != 0 and "already holds a store" in again.stderr, again.stderr
    assert again.stdout == "" and not any(share in again.stderr for share in first)


@pytest.mark.parametrize("shares,threshold", [(3, 1), (2, 3), (0, 0), (5, 0), (256, 3), (-1, 2)])
def test_init_refuses_bad_parameters_and_makes_nothing(tmp_path, shares, threshold):
    done = kmsd("operator", "init", "--data-dir", str(tmp_path / "d"), "--key-shares", str(shares),
                "--key-threshold", str(threshold))
    assert done.returncode != 0
    assert not (tmp_path / "d" / "kms.redb").exists()


def test_one_share_of_one_is_allowed(tmp_path):
    [share] = init(tmp_path / "single", 1, 1)
    proc = KmsdProcess(data_dir=tmp_path / "single", extra_args=["--seal", "shamir"]).start(ready_status=503)
    try:
        assert unseal(proc, share)["sealed"] is False
        assert_serving(proc)
    finally:
        proc.cleanup()


def test_quorum_unseals_seal_reseals_and_another_quorum_opens_the_same_keys(sealed):
    shares = sealed.shares
    assert_sealed(sealed)
    assert status(sealed) == {"seal": "shamir", "sealed": True, "shares": 5, "threshold": 3,
                              "progress": 0}
    # While sealed the admin API answers its own operations and refuses the rest.
    refused = admin(sealed, "account", "list")
    assert refused.returncode != 0 and "Sealed" in refused.stderr, refused.stderr

    assert unseal(sealed, shares[0])["progress"] == 1
    assert unseal(sealed, shares[1])["progress"] == 2
    repeated = admin(sealed, "unseal", stdin=shares[1])
    assert repeated.returncode != 0 and "RepeatedShare" in repeated.stderr, repeated.stderr
    assert status(sealed)["progress"] == 2
    assert_sealed(sealed)
    assert unseal(sealed, shares[2]) == {"seal": "shamir", "sealed": False, "shares": 5,
                                         "threshold": 3, "progress": 0}
    assert_serving(sealed)

    kms, hw = sealed.client(), huawei_client(sealed.endpoint)
    key_id = create_key(kms).KeyId
    blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=base64.b64encode(b"kept across seals").decode()).CiphertextBlob
    hw_blob = hw.encrypt_data(m.EncryptDataRequest(body=m.EncryptDataRequestBody(
        key_id=key_id, plain_text="huawei too"))).cipher_text

    sealed_answer = admin(sealed, "seal")
    assert sealed_answer.returncode == 0, sealed_answer.stderr
    assert json.loads(sealed_answer.stdout)["sealed"] is True
    assert_sealed(sealed)

    for share in shares[2:]:
        answer = unseal(sealed, share)
    assert answer["sealed"] is False
    plain = call(kms, "Decrypt", CiphertextBlob=blob).Plaintext
    assert base64.b64decode(plain) == b"kept across seals"
    assert hw.decrypt_data(m.DecryptDataRequest(body=m.DecryptDataRequestBody(
        cipher_text=hw_blob))).plain_text == "huawei too"
    sealed.key_id, sealed.blob = key_id, blob


def test_a_share_of_another_store_is_detected_and_the_server_stays_sealed(sealed, tmp_path):
    foreign = init(tmp_path / "other")
    assert admin(sealed, "seal").returncode == 0
    assert unseal(sealed, sealed.shares[0])["progress"] == 1
    assert unseal(sealed, sealed.shares[4])["progress"] == 2
    wrong = admin(sealed, "unseal", stdin=foreign[1])
    assert wrong.returncode != 0 and "WrongShares" in wrong.stderr, wrong.stderr
    assert status(sealed)["progress"] == 0, "every share given is forgotten"
    assert_sealed(sealed)
    for share in (sealed.shares[1], sealed.shares[3], sealed.shares[4]):
        answer = unseal(sealed, share)
    assert answer["sealed"] is False
    assert_serving(sealed)


def test_malformed_shares_are_refused_and_change_nothing(sealed, tmp_path):
    assert admin(sealed, "seal").returncode == 0
    assert unseal(sealed, sealed.shares[0])["progress"] == 1
    good = sealed.shares[1]
    flipped = good[:20] + ("0" if good[20] != "0" else "1") + good[21:]
    for bad in ["zz", good[:-2], good + "00", flipped, good.replace(good[0], "g", 1), "x" * 100_000,
                good[:39] + " " + good[39:], "\u00e9" * 39]:
        done = admin(sealed, "unseal", stdin=bad)
        assert done.returncode != 0, bad[:80]
        assert "MalformedShare" in done.stderr, done.stderr
        assert good not in done.stderr and bad[:78] not in done.stderr, "a refusal never quotes the share"
    # An empty line is no share: a Shamir server asks for one.
    empty = admin(sealed, "unseal", stdin="\n")
    assert empty.returncode != 0 and "give one share" in empty.stderr, empty.stderr
    token = (sealed.data_dir / "admin-token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    for body in [b'{"share": 12}', b"not json", b'{"share": "ab", "extra": 1}', b"[]"]:
        answer = requests.post(sealed.url + "/admin/v1/unseal", data=body, headers=headers, timeout=5)
        assert answer.status_code == 400, body
    other_threshold = admin(sealed, "unseal", stdin=init(tmp_path / "t2", 3, 2)[0])
    assert other_threshold.returncode != 0 and "ForeignShare" in other_threshold.stderr
    assert status(sealed)["progress"] == 1
    no_token = requests.post(sealed.url + "/admin/v1/unseal", json={"share": good}, timeout=5)
    assert no_token.status_code == 401
    assert status(sealed)["progress"] == 1, "an unauthenticated share is not taken"
    for share in sealed.shares[1:3]:
        answer = unseal(sealed, share)
    assert answer["sealed"] is False


def test_a_restart_comes_up_sealed_and_the_keys_still_open(sealed):
    sealed.stop()
    sealed.start(ready_status=503)
    assert_sealed(sealed)
    assert status(sealed)["progress"] == 0
    for share in (sealed.shares[4], sealed.shares[0], sealed.shares[2]):
        unseal(sealed, share)
    plain = call(sealed.client(), "Decrypt", CiphertextBlob=sealed.blob).Plaintext
    assert base64.b64decode(plain) == b"kept across seals"


def test_start_refusals_name_the_way_out(tmp_path):
    empty = KmsdProcess(data_dir=tmp_path / "empty", extra_args=["--seal", "shamir"])
    with pytest.raises(RuntimeError, match="kmsd operator init"):
        empty.start(ready_status=503)
    assert not (tmp_path / "empty" / "kms.redb").exists()

    plain = KmsdProcess(data_dir=tmp_path / "plain").start()
    plain.stop()
    as_shamir = KmsdProcess(data_dir=tmp_path / "plain", extra_args=["--seal", "shamir"])
    with pytest.raises(RuntimeError, match="not made by `kmsd operator init`"):
        as_shamir.start(ready_status=503)

    init(tmp_path / "split")
    as_file = KmsdProcess(data_dir=tmp_path / "split")
    with pytest.raises(RuntimeError, match="--seal shamir"):
        as_file.start()
    assert not (tmp_path / "split" / "root.key").exists(), "no key file is made for it"


def test_a_file_sealed_server_seals_and_unseals_without_shares(tmp_path):
    proc = KmsdProcess(data_dir=tmp_path / "file").start()
    try:
        kms = proc.client()
        key_id = create_key(kms).KeyId
        blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=base64.b64encode(b"file").decode()).CiphertextBlob
        assert admin(proc, "seal").returncode == 0
        assert_sealed(proc)
        assert status(proc) == {"seal": "file", "sealed": True}
        with_share = admin(proc, "unseal", stdin="00" * 39)
        assert with_share.returncode != 0, "a malformed share is refused before anything else"
        assert admin(proc, "unseal", stdin="\n").returncode == 0
        assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"file"
    finally:
        proc.cleanup()


def test_nodes_over_one_database_unseal_each_on_their_own(tmp_path):
    from test_cluster import Database
    db = Database()
    nodes = []
    try:
        shares = init(tmp_path / "a", 5, 3, "--store", db.url)
        again = kmsd("operator", "init", "--data-dir", str(tmp_path / "b"), "--key-shares", "5",
                     "--key-threshold", "3", "--store", db.url)
        assert again.returncode != 0 and "already holds a store" in again.stderr, again.stderr
        a = KmsdProcess(data_dir=tmp_path / "a", extra_args=["--seal", "shamir", "--store", db.url])
        b = KmsdProcess(data_dir=tmp_path / "b", extra_args=["--seal", "shamir", "--store", db.url])
        nodes = [a.start(ready_status=503), b.start(ready_status=503)]
        token = tmp_path / "a" / "admin-token"
        for share in shares[:3]:
            unseal(a, share)
        assert_serving(a)
        assert_sealed(b)
        key_id = create_key(a.client()).KeyId
        blob = call(a.client(), "Encrypt", KeyId=key_id, Plaintext=base64.b64encode(b"shared").decode()).CiphertextBlob
        done = admin(b, "status", token_file=token)
        assert json.loads(done.stdout)["progress"] == 0, "a's shares are a's"
        for share in shares[2:]:
            answer = unseal(b, share, token_file=token)
        assert answer["sealed"] is False
        assert base64.b64decode(call(b.client(), "Decrypt", CiphertextBlob=blob).Plaintext) == b"shared"
        assert admin(a, "seal", token_file=token).returncode == 0
        assert_sealed(a)
        assert_serving(b)
    finally:
        for node in nodes:
            node.cleanup()
        db.drop()
