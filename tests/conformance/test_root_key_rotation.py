"""Root key rotation (`kmsd admin root-key rotate`): a new root key seals every stored secret while
the server serves, through both SDKs; a kill -9 midway is finished at the next start; afterwards
every key made before still decrypts what it encrypted and every credential still signs."""

import base64
import os
import threading
import time

import requests
from huaweicloudsdkkms.v2 import model as m

from conftest import KmsdProcess, b64, call, create_key, unique_alias
from huawei import huawei_client, new_key
from test_admin import admin
from test_persistence import Load


def rotate(server):
    return admin("root-key", "rotate", server=server)


def status(server, token_file=None):
    return admin("root-key", "status", server=server, token_file=token_file)


def decrypts(kms, blob, plaintext, **extra):
    answer = call(kms, "Decrypt", CiphertextBlob=blob, **extra)
    assert base64.b64decode(answer.Plaintext) == plaintext


def test_rotation_under_load_keeps_every_key_and_credential(tmp_path):
    server = KmsdProcess().start()
    try:
        kms = server.client()
        hw = huawei_client(server.endpoint)
        account = admin("account", "create", server=server)
        sub = server.client(secret_id=account["secret_id"], secret_key=account["secret_key"])
        sub_key = create_key(sub).KeyId
        sub_blob = call(sub, "Encrypt", KeyId=sub_key, Plaintext=b64(b"sub-account")).CiphertextBlob
        ecc = call(kms, "CreateKey", Alias=unique_alias(), KeyUsage="ASYMMETRIC_SIGN_VERIFY_ECC").KeyId
        before = []
        for i in range(20):
            key_id = create_key(kms).KeyId
            plaintext = f"made before {i}".encode()
            before.append((call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(plaintext)).CiphertextBlob,
                           plaintext))
        hw_key = new_key(hw)
        hw_blob = hw.encrypt_data(m.EncryptDataRequest(body=m.EncryptDataRequestBody(
            key_id=hw_key, plain_text="huawei before"))).cipher_text

        assert status(server)["generation"] == 0, "a key-file store starts on its file's key"
        with Load(server, threads=3) as load:
            time.sleep(0.3)
            done = rotate(server)
            time.sleep(0.3)
        assert load.vendor_errors == [], load.vendor_errors
        made = [(blob, plaintext, context) for _, blob, plaintext, context in load.blobs]
        assert made
        assert (done["generation"], done["generations"], done["rotating"]) == (1, [1], False)
        assert done["last_error"] is None
        assert done["resealed_keys"] >= 23, done
        assert done["resealed_accounts"] == 2, "the root account's and the new account's"
        assert done["resealed_identity_secrets"] >= 3, "two credentials and the token key"

        for blob, plaintext in before:
            decrypts(kms, blob, plaintext)
        for blob, plaintext, context in made:
            decrypts(kms, blob, plaintext, EncryptionContext=context)
        decrypts(sub, sub_blob, b"sub-account")
        assert hw.decrypt_data(m.DecryptDataRequest(body=m.DecryptDataRequestBody(
            cipher_text=hw_blob))).plain_text == "huawei before"
        signature = call(kms, "SignByAsymmetricKey", KeyId=ecc, Algorithm="ECC_P256_R1",
                         Message=b64(b"signed after")).Signature
        assert call(kms, "VerifyByAsymmetricKey", KeyId=ecc, Algorithm="ECC_P256_R1", Message=b64(b"signed after"),
                    SignatureValue=signature).SignatureValid

        again = rotate(server)
        assert (again["generation"], again["generations"]) == (2, [2])
        server.stop()
        server.start()
        assert status(server)["generations"] == [2]
        kms = server.client()
        sub = server.client(secret_id=account["secret_id"], secret_key=account["secret_key"])
        for blob, plaintext in before[:5]:
            decrypts(kms, blob, plaintext)
        for blob, plaintext, context in made[:5]:
            decrypts(kms, blob, plaintext, EncryptionContext=context)
        decrypts(sub, sub_blob, b"sub-account")
    finally:
        server.cleanup()


def admin_call(server, method, path):
    token = (server.data_dir / "admin-token").read_text().strip()
    answer = requests.request(method, f"{server.url}/admin/v1{path}", json={} if method == "POST" else None,
                              headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return answer.status_code, answer.json()


def test_a_rotation_killed_midway_is_finished_at_the_next_start():
    server = KmsdProcess().start()
    try:
        kms = server.client()
        made = []
        lock = threading.Lock()

        def fill(n):
            client = server.client()
            for i in range(n):
                key_id = create_key(client).KeyId
                plaintext = os.urandom(8)
                blob = call(client, "Encrypt", KeyId=key_id, Plaintext=b64(plaintext)).CiphertextBlob
                with lock:
                    made.append((blob, plaintext))

        fillers = [threading.Thread(target=fill, args=(150,)) for _ in range(4)]
        for t in fillers:
            t.start()
        for t in fillers:
            t.join()

        code, started = admin_call(server, "POST", "/root-key/rotate")
        began = time.monotonic()
        assert code == 200, started
        assert (started["generations"], started["rotating"]) == ([0, 1], True)
        code, refused = admin_call(server, "POST", "/root-key/rotate")
        assert (code, refused["error"]["code"]) == (409, "RotationInProgress")
        # Killed in the grace period before the walk (writers get two seconds to finish what they
        # sealed under the old key): the stored keyring holds both generations, nothing is
        # resealed yet, and new writes are sealed under the new generation.
        time.sleep(0.5)
        for blob, plaintext in made[:3]:
            decrypts(kms, blob, plaintext)
        fill(20)
        in_grace = time.monotonic() - began < 1.5
        server.kill()

        server.start()
        kms = server.client()
        deadline = time.time() + 60
        while True:
            now = status(server)
            if not now["rotating"]:
                break
            assert time.time() < deadline, now
            time.sleep(0.2)
        assert (now["generation"], now["generations"], now["last_error"]) == (1, [1], None), now
        if in_grace:
            assert "a root key rotation was interrupted; finishing it" in server.log_path.read_text()
        for blob, plaintext in made:
            decrypts(kms, blob, plaintext)
    finally:
        server.cleanup()


def test_rotation_through_the_data_dir_while_no_server_runs(tmp_path):
    server = KmsdProcess().start()
    try:
        kms = server.client()
        key_id = create_key(kms).KeyId
        blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"offline")).CiphertextBlob
        server.stop()
        done = admin("root-key", "rotate", data_dir=server.data_dir)
        assert (done["generations"], done["rotating"], done["resealed_keys"]) == ([1], False, 1)
        server.start()
        decrypts(server.client(), blob, b"offline")
    finally:
        server.cleanup()


def rotation_reaches_the_other_node(a, b):
    """Keys made on either of two started nodes over one database decrypt on both; a root key
    rotation on `a` reaches `b`, a key made on `b` after it decrypts on both, and `b` keeps the
    rotated keyring across a restart. Answers the rotation's outcome."""
    on_a, on_b = a.client(), b.client()
    made = []
    for kms in (on_a, on_b):
        key_id = create_key(kms).KeyId
        made.append((call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"before")).CiphertextBlob, b"before"))
    for kms in (on_a, on_b):
        for blob, plaintext in made:
            decrypts(kms, blob, plaintext)
    token = a.data_dir / "admin-token"
    before = status(a)["generations"]
    done = rotate(a)
    assert done["last_error"] is None and done["generations"] != before, done
    deadline = time.time() + 10
    while status(b, token)["generations"] != done["generations"]:
        assert time.time() < deadline, "node b did not load the rotated keyring"
        time.sleep(0.1)
    key_id = create_key(on_b).KeyId
    made.append((call(on_b, "Encrypt", KeyId=key_id, Plaintext=b64(b"after")).CiphertextBlob, b"after"))
    for kms in (on_a, on_b):
        for blob, plaintext in made:
            decrypts(kms, blob, plaintext)
    b.stop()
    b.start()
    assert status(b, token)["generations"] == done["generations"]
    decrypts(b.client(), *made[0])
    return done


def test_a_rotation_on_one_node_reaches_every_node_over_postgresql():
    from test_cluster import Cluster, Database
    db = Database()
    cluster = Cluster(db, size=2)
    try:
        assert rotation_reaches_the_other_node(*cluster.nodes)["generations"] == [1]
    finally:
        cluster.cleanup()
        db.drop()


def test_rotation_under_the_shamir_seal_survives_a_restart_and_a_new_quorum(tmp_path):
    import test_shamir
    data_dir = tmp_path / "shamir"
    shares = test_shamir.init(data_dir, 3, 2)
    server = KmsdProcess(data_dir=data_dir, extra_args=["--seal", "shamir"]).start(ready_status=503)
    try:
        for share in shares[:2]:
            test_shamir.unseal(server, share)
        kms = server.client()
        key_id = create_key(kms).KeyId
        blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"shamir")).CiphertextBlob
        done = rotate(server)
        assert (done["generation"], done["generations"], done["last_error"]) == (2, [2], None), done
        server.stop()
        server.start(ready_status=503)
        for share in shares[1:]:
            test_shamir.unseal(server, share)
        decrypts(server.client(), blob, b"shamir")
        assert status(server)["generations"] == [2]
    finally:
        server.cleanup()
