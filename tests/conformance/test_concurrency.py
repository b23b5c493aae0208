"""Races through the official SDK: many clients on one server acting on one resource at once.

Every thread has its own SDK client (its own connection). Each answer must be a success or the
vendor's code for the refusal; a race must never surface as InternalError, and a batch must
change all of its keys or none.
"""

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from conftest import b64, call, create_key, unique_alias

CLIENTS = 16
ROUNDS = 10


def together(server, n, action):
    """Runs `action(i, client)` in `n` threads released at one instant; returns each thread's
    result, an exception answer as ("error", code)."""
    start = threading.Barrier(n)

    def run(i):
        client = server.client()
        start.wait()
        try:
            return action(i, client)
        except TencentCloudSDKException as e:
            return ("error", e.code)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def codes(results):
    return sorted(r[1] for r in results if isinstance(r, tuple) and r[0] == "error")


def test_one_alias_from_sixteen_clients(server, kms):
    alias = unique_alias("race")
    results = together(server, CLIENTS, lambda i, c: call(c, "CreateKey", Alias=alias).KeyId)
    created = [r for r in results if isinstance(r, str)]
    assert len(created) == 1, results
    assert codes(results) == ["InvalidParameterValue.AliasAlreadyExists"] * (CLIENTS - 1)
    assert call(kms, "DescribeKey", KeyId=created[0]).KeyMetadata.Alias == alias


def test_one_data_key_name_from_sixteen_clients(server, kms):
    cmk = create_key(kms).KeyId
    name = f"race_{uuid.uuid4().hex[:16]}"

    def generate(i, client):
        return call(client, "GenerateDataKey", KeyId=cmk, NumberOfBytes=32, IsHostedByKms=1,
                    DataKeyName=name).DataKeyId

    results = together(server, CLIENTS, generate)
    hosted = [r for r in results if isinstance(r, str)]
    assert len(hosted) == 1, results
    assert codes(results) == ["InvalidParameterValue.DataKeyNameAlreadyExists"] * (CLIENTS - 1)
    assert call(kms, "DescribeDataKey", DataKeyId=hosted[0]).DataKeyMetadata.DataKeyName == name


def test_a_batch_against_a_concurrent_deletion_changes_all_keys_or_none(server, kms):
    """DisableKeys of 20 keys races ScheduleKeyDeletion of the last one (already Disabled):
    either the batch wins and all 20 are Disabled, or the deletion wins and the batch is refused
    with the vendor's code, every other key still Enabled."""
    for round_ in range(8):
        ids = [create_key(kms).KeyId for _ in range(20)]
        call(kms, "DisableKey", KeyId=ids[-1])
        # The deletion lands at a different moment of the batch in each round.
        delay = random.Random(round_).uniform(0, 0.03)

        def act(i, client):
            if i == 0:
                call(client, "DisableKeys", KeyIds=ids)
                return "batch"
            time.sleep(delay)
            call(client, "ScheduleKeyDeletion", KeyId=ids[-1], PendingWindowInDays=7)
            return "deletion"

        batch, deletion = together(server, 2, act)
        assert deletion == "deletion"
        states = [m.KeyState for m in call(kms, "DescribeKeys", KeyIds=ids[:-1]).KeyMetadatas]
        if batch == "batch":
            assert states == ["Disabled"] * 19, states
        else:
            assert batch == ("error", "ResourceUnavailable.CmkStateNotSupport"), batch
            assert states == ["Enabled"] * 19, f"a refused batch changed keys: {states}"


def sixteen_writers(server, id_param, resource_id, actions, description):
    """CLIENTS clients each make ROUNDS writes to one resource, cycling through `actions` (the
    first takes a Description); returns every answer: "ok" or the vendor code."""
    def write(i, client):
        done = []
        for r in range(ROUNDS):
            action = actions[(i + r) % len(actions)]
            extra = {"Description": description(i, r)} if action == actions[0] else {}
            try:
                call(client, action, **{id_param: resource_id}, **extra)
                done.append("ok")
            except TencentCloudSDKException as e:
                done.append(e.code)
        return done

    return [a for r in together(server, CLIENTS, write) for a in r]


def test_sixteen_writers_on_one_key(server, kms):
    key_id = create_key(kms).KeyId
    answers = sixteen_writers(server, "KeyId", key_id, ("UpdateKeyDescription", "EnableKey", "DisableKey"),
                              lambda i, r: f"writer {i} round {r}")
    # Every one of these writes is legal in every state the key passes through.
    assert answers == ["ok"] * (CLIENTS * ROUNDS), sorted(set(answers))
    assert call(kms, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState in ("Enabled", "Disabled")


def test_sixteen_writers_on_one_data_key(server, kms):
    cmk = create_key(kms).KeyId
    data_key_id = call(kms, "GenerateDataKey", KeyId=cmk, NumberOfBytes=32, IsHostedByKms=1,
                       DataKeyName=f"w_{uuid.uuid4().hex[:16]}").DataKeyId
    answers = sixteen_writers(server, "DataKeyId", data_key_id,
                              ("UpdateDataKeyDescription", "EnableDataKey", "DisableDataKey"),
                              lambda i, r: f"w{i} r{r}")
    assert answers == ["ok"] * (CLIENTS * ROUNDS), sorted(set(answers))


def test_concurrent_rotations_keep_every_ciphertext_decrypting(server, kms):
    key_id = create_key(kms).KeyId
    rotators = 4

    def act(i, client):
        if i < rotators:
            for _ in range(3):
                call(client, "RotateKey", KeyId=key_id)
            return "rotated"
        made = []
        for r in range(5):
            plaintext = f"client {i} round {r}".encode()
            blob = call(client, "Encrypt", KeyId=key_id, Plaintext=b64(plaintext)).CiphertextBlob
            made.append((plaintext, blob))
        return made

    results = together(server, CLIENTS, act)
    assert results[:rotators] == ["rotated"] * rotators, results[:rotators]
    made = [pair for r in results[rotators:] for pair in r]
    assert len(made) == (CLIENTS - rotators) * 5
    for plaintext, blob in made:
        assert call(kms, "Decrypt", CiphertextBlob=blob).Plaintext == b64(plaintext)
