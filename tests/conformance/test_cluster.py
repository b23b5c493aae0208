"""Three kmsd nodes over one PostgreSQL database, driven through the vendors' SDKs with clients
spread over the nodes: writes on one node are read on the others, a change is refused on every
node within a second (measured), races across nodes have one winner, replays and wrong passwords
count across nodes, a node killed and the database restarted under load lose nothing
acknowledged, and `kmsd store copy` moves a store both ways.

The database server comes from KMSD_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/
postgres); each test module's cluster gets a database of its own, dropped afterwards."""

import base64
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from huaweicloudsdkkms.v2 import model as m
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from conftest import (KMSD_BIN, PROJECT_ID, REGION, SECRET_ID, SECRET_KEY, KmsdProcess, call,
                      create_key, free_port, make_client, unique_alias)
from huawei import huawei_client, sign_request
from test_admin import admin
from test_hostile_input import legacy_params, signed
from test_huawei_tokens import make_user, new_tenant, post_token, token_body

PG_BASE = os.environ.get("KMSD_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
TRANSIENT = "UnsupportedOperation.ServiceTemporaryUnavailable"
# The contract: a change made through one node is honoured by every node within this.
BOUND_SECS = 1.0


def psql(sql, url=PG_BASE):
    done = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"psql failed (is PostgreSQL up at KMSD_TEST_POSTGRES?): {done.stderr}"
    return done.stdout


def database_url(name):
    base, _, _ = PG_BASE.rpartition("/")
    return f"{base}/{name}"


class Database:
    def __init__(self):
        self.name = "kmsd_conformance_" + uuid.uuid4().hex[:12]
        psql(f"CREATE DATABASE {self.name}")
        self.url = database_url(self.name)

    def drop(self):
        psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


class Cluster:
    def __init__(self, db, size=3, extra_args=()):
        self.db = db
        first = KmsdProcess(extra_args=["--store", db.url, *extra_args]).start()
        self.key_file = first.data_dir / "root.key"
        self.nodes = [first] + [
            KmsdProcess(extra_args=["--store", db.url, "--root-key-file", str(self.key_file),
                                    *extra_args]).start()
            for _ in range(size - 1)]

    def clients(self):
        return [n.client() for n in self.nodes]

    def cleanup(self):
        for node in self.nodes:
            node.cleanup()


@pytest.fixture(scope="module")
def cluster():
    db = Database()
    cluster = Cluster(db, extra_args=["--huawei-replay-cache", "--token-requests-per-address", "0"])
    yield cluster
    cluster.cleanup()
    db.drop()


def within_bound(check):
    """Polls `check` until it holds; answers the seconds it took (fails past twice the bound,
    so a slow machine shows the measured figure rather than a bare timeout)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > 2 * BOUND_SECS:
            pytest.fail("a change was not seen within twice the bound")
        time.sleep(0.005)
    return time.monotonic() - started


def code_of(fn):
    try:
        fn()
        return "ok"
    except TencentCloudSDKException as e:
        return e.code


def report(name, delays):
    delays = sorted(delays)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(f"\n{name}: n={len(delays)} median={statistics.median(delays) * 1000:.1f} ms "
          f"p99={p99 * 1000:.1f} ms max={delays[-1] * 1000:.1f} ms")
    assert p99 < BOUND_SECS, delays


def test_every_write_made_on_one_node_is_read_on_the_others(cluster):
    a, b, c = cluster.clients()
    key = create_key(a, Alias=unique_alias("cluster"), Description="made on node 1").KeyId
    for client in (b, c):
        within_bound(lambda: code_of(lambda: call(client, "DescribeKey", KeyId=key)) == "ok")
        assert call(client, "DescribeKey", KeyId=key).KeyMetadata.Description == "made on node 1"
    blob = call(b, "Encrypt", KeyId=key, Plaintext=base64.b64encode(b"across").decode()).CiphertextBlob
    assert base64.b64decode(call(c, "Decrypt", CiphertextBlob=blob).Plaintext) == b"across"
    call(c, "UpdateKeyDescription", KeyId=key, Description="changed on node 3")
    within_bound(lambda: call(a, "DescribeKey", KeyId=key).KeyMetadata.Description == "changed on node 3")
    # The Huawei dialect over the same store: a key made on node 3 is the same key on node 1.
    hw = huawei_client(cluster.nodes[2].endpoint)
    made = hw.create_key(m.CreateKeyRequest(body=m.CreateKeyRequestBody(key_alias=unique_alias("hw"))))
    hw_key = made.key_info.key_id
    within_bound(lambda: code_of(lambda: call(a, "DescribeKey", KeyId=hw_key)) == "ok")
    assert call(a, "DescribeKey", KeyId=hw_key).KeyMetadata.KeyState == "Enabled"
    listed = {k.KeyId for k in call(b, "ListKeys", Limit=200).Keys}
    assert {key, hw_key} <= listed


def test_a_disabled_key_is_refused_on_every_node_within_a_second(cluster):
    a, b, c = cluster.clients()
    plaintext = base64.b64encode(b"x").decode()
    delays = []
    for _ in range(10):
        key = create_key(a).KeyId
        for client in (b, c):
            within_bound(lambda: code_of(lambda: call(client, "Encrypt", KeyId=key, Plaintext=plaintext)) == "ok")
        call(a, "DisableKey", KeyId=key)
        for client in (b, c):
            delays.append(within_bound(lambda: code_of(
                lambda: call(client, "Encrypt", KeyId=key, Plaintext=plaintext)) == "ResourceUnavailable.CmkDisabled"))
    report("disable seen on the other nodes", delays)


def test_a_deleted_credential_and_a_detached_policy_are_refused_everywhere_within_a_second(cluster, tmp_path):
    first = cluster.nodes[0]
    tenant = new_tenant(first, tmp_path)
    user = admin("user", "create", "--account", tenant["uin"], "app", server=first)
    credential_delays, policy_delays = [], []
    for _ in range(5):
        admin("policy", "attach", "--account", tenant["uin"], "--user", user["id"], "all-kms", server=first)
        cred = admin("credential", "create", "--account", tenant["uin"], "--user", user["id"], server=first)
        clients = [make_client(n.endpoint, secret_id=cred["secret_id"], secret_key=cred["secret_key"])
                   for n in cluster.nodes[1:]]
        for client in clients:
            within_bound(lambda: code_of(lambda: call(client, "ListKeys")) == "ok")
        admin("policy", "detach", "--account", tenant["uin"], "--user", user["id"], "all-kms", server=first)
        for client in clients:
            policy_delays.append(within_bound(
                lambda: code_of(lambda: call(client, "ListKeys")) == "UnauthorizedOperation"))
        admin("credential", "delete", "--account", tenant["uin"], cred["secret_id"], server=first)
        for client in clients:
            credential_delays.append(within_bound(
                lambda: code_of(lambda: call(client, "ListKeys")) == "AuthFailure.SecretIdNotFound"))
    report("policy detach seen on the other nodes", policy_delays)
    report("credential deletion seen on the other nodes", credential_delays)


def spread(cluster, count, fn):
    """Runs fn(i, client) in `count` threads, client i on node i % 3; answers each result or
    ("error", code)."""
    clients = [cluster.nodes[i % len(cluster.nodes)].client() for i in range(count)]
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait()
        try:
            return fn(i, clients[i])
        except TencentCloudSDKException as e:
            return ("error", e.code)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_sixteen_clients_creating_one_alias_across_nodes(cluster):
    alias = unique_alias("race")
    results = spread(cluster, 16, lambda i, c: call(c, "CreateKey", Alias=alias).KeyId)
    created = [r for r in results if isinstance(r, str)]
    assert len(created) == 1, results
    assert sorted(r for r in results if isinstance(r, tuple)) == \
        [("error", "InvalidParameterValue.AliasAlreadyExists")] * 15
    a = cluster.nodes[0].client()
    assert call(a, "DescribeKey", KeyId=created[0]).KeyMetadata.Alias == alias


def test_sixteen_writers_on_one_key_across_nodes_lose_nothing(cluster):
    a = cluster.nodes[0].client()
    key = create_key(a).KeyId
    time.sleep(BOUND_SECS)

    def write(i, client):
        answers = []
        for r in range(5):
            answers.append(code_of(lambda: call(client, "UpdateKeyDescription", KeyId=key,
                                                Description=f"writer {i} round {r}")))
        return answers

    answers = [x for r in spread(cluster, 16, write) for x in r]
    assert set(answers) <= {"ok", TRANSIENT}, sorted(set(answers))
    assert answers.count("ok") >= 16 * 5 - 3, answers
    # Tags through Huawei: each writer adds its own, and every acknowledged one is there.
    hw = [huawei_client(n.endpoint) for n in cluster.nodes]
    barrier = threading.Barrier(8)

    def tag(i):
        barrier.wait()
        try:
            hw[i % 3].create_kms_tag(m.CreateKmsTagRequest(
                key_id=key, body=m.CreateKmsTagRequestBody(tag=m.TagItem(key=f"t{i}", value=str(i)))))
            return f"t{i}"
        except Exception as e:  # the vendor's error, recorded and checked below
            return ("error", getattr(e, "error_code", repr(e)))

    with ThreadPoolExecutor(8) as pool:
        tagged = list(pool.map(tag, range(8)))
    ok = sorted(t for t in tagged if isinstance(t, str))
    assert all(t == ("error", "KMS.0101") or isinstance(t, str) for t in tagged), tagged
    assert len(ok) >= 6, tagged
    within_bound(lambda: sorted(t.key for t in hw[1].show_kms_tags(
        m.ShowKmsTagsRequest(key_id=key)).tags) == ok)


def test_a_batch_against_concurrent_changes_on_another_node_is_all_or_nothing(cluster):
    a, b, _ = cluster.clients()
    for _ in range(5):
        ids = [create_key(a).KeyId for _ in range(10)]
        call(a, "DisableKey", KeyId=ids[-1])
        time.sleep(0.05)
        barrier = threading.Barrier(2)

        def batch():
            barrier.wait()
            return code_of(lambda: call(a, "DisableKeys", KeyIds=ids))

        def deletion():
            barrier.wait()
            return code_of(lambda: call(b, "ScheduleKeyDeletion", KeyId=ids[-1], PendingWindowInDays=7))

        with ThreadPoolExecutor(2) as pool:
            batched, deleted = pool.submit(batch), pool.submit(deletion)
            batched, deleted = batched.result(), deleted.result()
        assert deleted == "ok"
        states = [k.KeyState for k in call(a, "DescribeKeys", KeyIds=ids[:-1]).KeyMetadatas]
        if batched == "ok":
            assert states == ["Disabled"] * 9, states
        else:
            assert batched == "ResourceUnavailable.CmkStateNotSupport", batched
            assert states == ["Enabled"] * 9, states


def test_a_legacy_nonce_replayed_to_another_node_is_refused(cluster):
    first, second = cluster.nodes[0], cluster.nodes[1]
    # Behind one address every node sees the same Host, which the signature covers.
    params = signed("POST", first, legacy_params("GenerateRandom", NumberOfBytes="8"))
    r = requests.post(first.url + "/", data=params, timeout=30)
    assert "Plaintext" in r.json()["Response"], r.text
    r = requests.post(second.url + "/", data=params, headers={"Host": first.endpoint}, timeout=30)
    assert r.json()["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization", r.text


def test_a_huawei_signature_replayed_to_another_node_is_refused(cluster):
    first, second = cluster.nodes[0], cluster.nodes[1]
    path = f"/v1.0/{PROJECT_ID}/kms/gen-random"
    body = json.dumps({"random_data_length": "256"}).encode()
    headers = sign_request("POST", path, body=body, host=first.endpoint)
    r = requests.post(first.url + path, data=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.post(second.url + path, data=body, headers=headers, timeout=30)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["error_code"] == "APIG.0301"


def test_wrong_passwords_count_across_nodes(cluster, tmp_path):
    first = cluster.nodes[0]
    tenant = new_tenant(first, tmp_path)
    make_user(first, tenant, "mallory")
    time.sleep(BOUND_SECS)
    wrong = token_body("mallory", tenant["uin"], password="not the password", project="ap-guangzhou")
    for i in range(10):
        answer = post_token(cluster.nodes[i % 3], wrong).json()
        assert answer["error"]["message"] == "The username or password is wrong.", answer
    right = post_token(cluster.nodes[1], token_body("mallory", tenant["uin"], project="ap-guangzhou"))
    assert right.status_code == 401
    assert "locked" in right.json()["error"]["message"]


def create_under_load(cluster, seconds, event=None):
    """Clients on every node create keys for `seconds` (running `event` halfway); answers the
    ids acknowledged and the codes of every refusal."""
    acknowledged, refusals = [], []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def work(i):
        client = cluster.nodes[i % 3].client()
        client.profile.httpProfile.reqTimeout = 10
        while time.monotonic() < stop:
            try:
                key = call(client, "CreateKey", Alias=unique_alias("load")).KeyId
                with lock:
                    acknowledged.append(key)
            except TencentCloudSDKException as e:
                with lock:
                    refusals.append(e.code)
                time.sleep(0.02)

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(work, i) for i in range(6)]
        if event:
            time.sleep(seconds / 3)
            event()
        for f in futures:
            f.result()
    return acknowledged, refusals


def every_key_is_there(client, ids):
    missing = []
    for start in range(0, len(ids), 100):
        batch = ids[start:start + 100]
        found = {k.KeyId for k in call(client, "DescribeKeys", KeyIds=batch).KeyMetadatas}
        missing += [k for k in batch if k not in found]
    assert not missing, f"{len(missing)} acknowledged keys lost"


def test_kill_9_of_one_node_under_load_loses_nothing_acknowledged(cluster):
    victim = cluster.nodes[1]
    acknowledged, refusals = create_under_load(cluster, 3, event=victim.kill)
    assert len(acknowledged) > 30
    survivors = [cluster.nodes[0].client(), cluster.nodes[2].client()]
    for client in survivors:
        every_key_is_there(client, acknowledged)
    # Clients of the killed node saw their connection fail (the SDK's ClientNetworkError), no
    # other code.
    assert set(refusals) <= {"ClientNetworkError"}, set(refusals)
    victim.start()
    every_key_is_there(victim.client(), acknowledged)


def restart_postgres():
    versions = sorted(os.listdir("/etc/postgresql"))
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"],
                   check=True, timeout=120, capture_output=True)


def healthy(node):
    try:
        return requests.get(node.url + "/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.skipif(not os.path.isdir("/etc/postgresql") or os.geteuid() != 0,
                    reason="restarting the database needs the local cluster's pg_ctlcluster as root")
def test_a_database_restart_under_load_answers_the_transient_code_and_recovers(cluster):
    acknowledged, refusals = create_under_load(cluster, 6, event=restart_postgres)
    assert set(refusals) <= {TRANSIENT}, set(refusals)
    deadline = time.monotonic() + 30
    while not all(healthy(n) for n in cluster.nodes):
        assert time.monotonic() < deadline, "the nodes did not recover"
        time.sleep(0.1)
    for node in cluster.nodes:
        every_key_is_there(node.client(), acknowledged)
        assert call(node.client(), "GenerateRandom", NumberOfBytes=8).Plaintext


def test_a_node_without_the_root_key_or_with_another_refuses_to_start(cluster, tmp_path):
    keyless = KmsdProcess(data_dir=tmp_path / "keyless", extra_args=["--store", cluster.db.url])
    with pytest.raises(RuntimeError) as refused:
        keyless.start()
    keyless.stop()
    assert "exists but its root key file" in str(refused.value)
    # A node whose data dir holds a key of its own (made by an embedded start).
    other = KmsdProcess(data_dir=tmp_path / "other").start()
    other.stop()
    other.extra_args = ["--store", cluster.db.url]
    with pytest.raises(RuntimeError) as refused:
        other.start()
    other.stop()
    assert "does not open the store postgres://" in str(refused.value)
    assert "check value" in str(refused.value)


def make_everything(node, tmp_path):
    """Keys of several types, a hosted data key, a grant, a user with a credential and a
    password; answers what the copy must bring along."""
    kms = node.client()
    made = {"blobs": [], "signatures": []}
    for usage in ("ENCRYPT_DECRYPT", "ASYMMETRIC_DECRYPT_RSA_2048", "ASYMMETRIC_SIGN_VERIFY_ECC",
                  "ASYMMETRIC_SIGN_VERIFY_SM2", "ASYMMETRIC_DECRYPT_SM2"):
        create_key(kms, KeyUsage=usage)
    sym = create_key(kms).KeyId
    made["blobs"].append(call(kms, "Encrypt", KeyId=sym, Plaintext=base64.b64encode(b"moved").decode()).CiphertextBlob)
    ecc = create_key(kms, KeyUsage="ASYMMETRIC_SIGN_VERIFY_ECC").KeyId
    digest = base64.b64encode(hashlib.sha256(b"m").digest()).decode()
    sig = call(kms, "SignByAsymmetricKey", KeyId=ecc, Algorithm="ECC_P256_R1", Message=digest, MessageType="DIGEST").Signature
    made["signatures"].append((ecc, digest, sig))
    made["data_key"] = call(kms, "GenerateDataKey", KeyId=sym, NumberOfBytes=32, IsHostedByKms=1,
                            DataKeyName=f"dk_{uuid.uuid4().hex[:12]}").DataKeyId
    hw = huawei_client(node.endpoint)
    made["grant"] = hw.create_grant(m.CreateGrantRequest(body=m.CreateGrantRequestBody(
        key_id=sym, grantee_principal="123456789012", operations=["describe-key"]))).grant_id
    made["sym"] = sym
    tenant = new_tenant(node, tmp_path)
    make_user(node, tenant, "carol")
    user = admin("user", "create", "--account", tenant["uin"], "svc", server=node)
    admin("policy", "attach", "--account", tenant["uin"], "--user", user["id"], "all-kms", server=node)
    made["credential"] = admin("credential", "create", "--account", tenant["uin"], "--user", user["id"], server=node)
    made["tenant"] = tenant
    return made


def everything_works(node, made):
    kms = node.client()
    for blob in made["blobs"]:
        assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"moved"
    for key, digest, sig in made["signatures"]:
        assert call(kms, "VerifyByAsymmetricKey", KeyId=key, SignatureValue=sig, Message=digest,
                    Algorithm="ECC_P256_R1", MessageType="DIGEST").SignatureValid
    assert call(kms, "DescribeDataKey", DataKeyId=made["data_key"]).DataKeyMetadata.DataKeyId == made["data_key"]
    hw = huawei_client(node.endpoint)
    grants = hw.list_grants(m.ListGrantsRequest(body=m.ListGrantsRequestBody(key_id=made["sym"]))).grants
    assert [g.grant_id for g in grants] == [made["grant"]]
    cred = made["credential"]
    user_client = make_client(node.endpoint, secret_id=cred["secret_id"], secret_key=cred["secret_key"])
    assert call(user_client, "GenerateRandom", NumberOfBytes=8).Plaintext
    tenant = made["tenant"]
    token = post_token(node, token_body("carol", tenant["uin"], project="ap-guangzhou"))
    assert token.status_code == 201, token.text


def copy_store(src, dst, *extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSD_")}
    return subprocess.run([KMSD_BIN, "store", "copy", "--from", str(src), "--to", str(dst), *extra],
                          capture_output=True, text=True, timeout=300, env=env)


def test_store_copy_moves_everything_both_ways(tmp_path):
    source = KmsdProcess(data_dir=tmp_path / "source").start()
    made = make_everything(source, tmp_path)
    source.stop()
    db = Database()
    try:
        done = copy_store(source.data_dir, db.url)
        assert done.returncode == 0, done.stderr
        assert "copied" in done.stdout and "accounts" in done.stdout
        again = copy_store(source.data_dir, db.url)
        assert again.returncode != 0 and "is not empty" in again.stderr
        node = KmsdProcess(extra_args=["--store", db.url, "--root-key-file",
                                       str(source.data_dir / "root.key")]).start()
        try:
            everything_works(node, made)
        finally:
            node.stop()
        back = tmp_path / "back"
        done = copy_store(db.url, back, "--root-key-file", str(source.data_dir / "root.key"))
        assert done.returncode == 0, done.stderr
        restored = KmsdProcess(data_dir=back).start()
        try:
            everything_works(restored, made)
        finally:
            restored.cleanup()
        node.cleanup()
    finally:
        db.drop()
        source.cleanup()


def test_metrics_show_the_store_feed_and_cache(cluster):
    a = cluster.nodes[0].client()
    key = create_key(a).KeyId
    for _ in range(3):
        call(a, "Encrypt", KeyId=key, Plaintext=base64.b64encode(b"m").decode())
    text = requests.get(cluster.nodes[0].url + "/metrics", timeout=10).text
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert values["kmsd_store_current"] == "1"
    assert values["kmsd_store_feed_up"] == "1"
    assert float(values["kmsd_store_feed_lag_seconds"]) < BOUND_SECS
    assert float(values["kmsd_cache_hits_total"]) >= 2
    assert 'kmsd_store_connections{state="idle"}' in values
    assert float(values['kmsd_store_calls_total{call="create_key"}']) >= 1, sorted(values)


SNAKEOIL = "/etc/ssl/certs/ssl-cert-snakeoil.pem"


@pytest.mark.skipif(not os.path.exists(SNAKEOIL), reason="the local server's certificate is not there")
def test_tls_to_the_database_is_verified_and_the_password_never_shown(tmp_path):
    if psql("SHOW ssl").strip() != "on":
        pytest.skip("the local PostgreSQL serves no TLS")
    db = Database()
    try:
        # The server's certificate names localhost: verify-full passes for that name only.
        url = db.url.replace("postgres@127.0.0.1", "postgres:not-the-password@localhost")
        good = KmsdProcess(extra_args=["--store", f"{url}?sslmode=verify-full&sslrootcert={SNAKEOIL}"]).start()
        try:
            assert call(good.client(), "GenerateRandom", NumberOfBytes=8).Plaintext
            assert "not-the-password" not in good.log_path.read_text()
            rows = psql(f"SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                        f"WHERE a.datname = '{db.name}'").split()
            assert rows and set(rows) == {"t"}, rows
        finally:
            good.cleanup()
        wrong_name = url.replace("@localhost", "@127.0.0.1")
        bad = KmsdProcess(extra_args=["--store", f"{wrong_name}?sslmode=verify-full&sslrootcert={SNAKEOIL}"])
        with pytest.raises(RuntimeError) as refused:
            bad.start()
        bad.stop()
        assert "TLS" in str(refused.value)
        assert "not-the-password" not in str(refused.value) and "***" in str(refused.value)
        bad.cleanup()
    finally:
        db.drop()


def test_store_copy_refuses_a_store_that_nodes_serve(cluster, tmp_path):
    done = copy_store(cluster.db.url, tmp_path / "copy", "--root-key-file", str(cluster.key_file))
    assert done.returncode != 0
    assert "node(s) are serving" in done.stderr and "stop every node first" in done.stderr
    assert not (tmp_path / "copy" / "kms.redb").exists()


def test_a_multi_host_url_connects_to_the_host_that_takes_writes():
    db = Database()
    try:
        # The first host refuses connections; the node goes on to the next.
        dead = f"127.0.0.1:{free_port()}"
        url = db.url.replace("@127.0.0.1:5432", f"@{dead},127.0.0.1:5432") + "?target_session_attrs=read-write"
        node = KmsdProcess(extra_args=["--store", url]).start()
        try:
            key = create_key(node.client()).KeyId
            assert call(node.client(), "DescribeKey", KeyId=key).KeyMetadata.KeyState == "Enabled"
        finally:
            node.cleanup()
    finally:
        db.drop()


def test_nodes_starting_together_over_an_empty_store_make_one_root_account():
    db = Database()
    # No root credential given: the one node that creates the account generates it.
    env = {"KMSD_ROOT_SECRET_ID": None, "KMSD_ROOT_SECRET_KEY": None, "KMSD_ROOT_PROJECT_ID": None}
    nodes = [KmsdProcess(extra_args=["--store", db.url], env=env) for _ in range(3)]
    # The operator placed one root key in every node's data dir before the first start (a key
    # made by a throwaway embedded node here).
    maker = KmsdProcess().start()
    maker.stop()
    for node in nodes:
        shutil.copy(maker.data_dir / "root.key", node.data_dir / "root.key")
    maker.cleanup()
    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda n: n.start(), nodes))
        files = [n.data_dir / "root-credentials.json" for n in nodes if (n.data_dir / "root-credentials.json").exists()]
        assert len(files) == 1, files
        tokens = [n for n in nodes if (n.data_dir / "admin-token").exists()]
        assert len(tokens) == 1, "one operator token for the cluster"
        assert admin("account", "list", server=tokens[0])
        root = json.loads(files[0].read_text())
        for node in nodes:
            client = make_client(node.endpoint, secret_id=root["secret_id"], secret_key=root["secret_key"])
            assert call(client, "GenerateRandom", NumberOfBytes=8).Plaintext
        assert psql("SELECT count(*) FROM accounts", url=db.url).strip() == "1"
    finally:
        for node in nodes:
            node.cleanup()
        db.drop()
