"""Authorization sees the key that executes, through both official SDKs and hand-signed requests:
a key id in another spelling (upper case, a percent-encoded path segment), a ciphertext's header in
either encoding, re-encrypt's source key (named by the blob or by `source_key_id`), batches, alias
moves and grants are all asked about as the engine resolves them; policy conditions on the source
address, the user name and the domain name are evaluated, the address behind a proxy only when the
operator trusts the proxy."""

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from huaweicloudsdkkms.v2 import model as m

from conftest import KmsdProcess, call, create_key, expect_error, tc3_post
from huawei import expect
from huawei_signing import sign_request
from test_admin import admin, attach_policy, clients
from test_policies import served, tenant  # noqa: F401 - the same fixtures: a server and an account

ALL_CAM = {"version": "2.0", "statement": [{"effect": "allow", "action": ["kms:*"], "resource": ["*"]}]}
OAEP_SHA256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def user_with(served, tenant, name, policies, tmp_path):
    """A new user with (name, document, language) policies attached: (user, credential, tc, hw)."""
    user = admin("user", "create", "--account", tenant["uin"], name, server=served)
    for policy_name, document, language in policies:
        attach_policy(served, tenant["uin"], user["id"], f"{name}-{policy_name}", document, language, tmp_path)
    credential = admin("credential", "create", "--account", tenant["uin"], "--user", user["id"], server=served)
    return (user, credential, *clients(served, tenant, credential))


def deny_cam(uin, key_id):
    return {"version": "2.0", "statement": [{
        "effect": "deny", "action": ["kms:*"],
        "resource": [f"qcs::kms::uin/{uin}:key/creatorUin/{uin}/{key_id}"]}]}


def only_key_iam(key_id):
    return {"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["kms:*:*"],
                                             "Resource": [f"KMS:*:*:KeyId:{key_id}"]}]}


def hw_raw(served, tenant, credential, method, path, body=None):
    """A request hand-signed with `credential`, sent with its path exactly as given."""
    payload = json.dumps(body).encode() if body is not None else b""
    full = f"/v1.0/{tenant['account']['project_id']}/{path}"
    headers = sign_request(method, full, body=payload, ak=credential["secret_id"], sk=credential["secret_key"],
                           host=served.endpoint)
    return requests.request(method, served.url + full, data=payload, headers=headers, timeout=10)


def percent_encode_one(key_id):
    """The key id with its first letter or digit written as a percent escape."""
    return f"%{ord(key_id[0]):02X}{key_id[1:]}"


def test_a_deny_holds_for_every_spelling_of_the_key_id(served, tenant, tmp_path):
    root_tc, root_hw = clients(served, tenant, tenant["root"])
    k1, k2 = create_key(root_tc).KeyId, create_key(root_tc).KeyId
    _, credential, tc, hw = user_with(served, tenant, "spell", [
        ("all", ALL_CAM, "cam"), ("no-k1", deny_cam(tenant["uin"], k1), "cam")], tmp_path)
    upper = k1.upper()
    # Tencent: the review's reproduction (kms:* with a Deny on k1, k1 written in upper case).
    expect_error("UnauthorizedOperation", tc, "Encrypt", KeyId=upper, Plaintext="eA==")
    expect_error("UnauthorizedOperation", tc, "DisableKey", KeyId=upper)
    expect_error("UnauthorizedOperation", tc, "UpdateKeyDescription", KeyId=upper, Description="mine")
    expect_error("UnauthorizedOperation", tc, "DisableKeys", KeyIds=[k2, upper])
    expect_error("UnauthorizedOperation", tc, "DescribeKeys", KeyIds=[k2, upper])
    refusal = expect_error("UnauthorizedOperation", tc, "ScheduleKeyDeletion", KeyId=upper, PendingWindowInDays=7)
    assert "kms:ScheduleKeyDeletion" in refusal.message
    # Huawei: upper case in the body and in the path, and one character percent-encoded.
    expect(403, "KMS.0306", hw.encrypt_data, m.EncryptDataRequest(body=m.EncryptDataRequestBody(
        key_id=upper, plain_text="p")))
    expect(403, "KMS.0306", hw.disable_key, m.DisableKeyRequest(body=m.OperateKeyRequestBody(key_id=upper)))
    for spelling in [upper, percent_encode_one(k1)]:
        tagged = hw_raw(served, tenant, credential, "POST", f"kms/{spelling}/tags",
                        {"tag": {"key": "owner", "value": "mallory"}})
        assert (tagged.status_code, tagged.json()["error"]["error_code"]) == (403, "KMS.0306"), tagged.text
        shown = hw_raw(served, tenant, credential, "GET", f"kms/{spelling}/tags")
        assert (shown.status_code, shown.json()["error"]["error_code"]) == (403, "KMS.0306"), shown.text
    # Nothing changed k1; the other key works in any spelling and is answered canonically.
    meta = call(root_tc, "DescribeKey", KeyId=k1).KeyMetadata
    assert (meta.KeyState, meta.Description) == ("Enabled", "")
    assert root_hw.show_kms_tags(m.ShowKmsTagsRequest(key_id=k1)).tags == []
    assert call(tc, "Encrypt", KeyId=k2.upper(), Plaintext="eA==").KeyId == k2
    tagged = hw_raw(served, tenant, credential, "POST", f"kms/{percent_encode_one(k2)}/tags",
                    {"tag": {"key": "owner", "value": "alice"}})
    assert tagged.status_code == 204, tagged.text
    assert [(t.key, t.value) for t in root_hw.show_kms_tags(m.ShowKmsTagsRequest(key_id=k2)).tags] == [
        ("owner", "alice")]


def test_a_deny_written_in_upper_case_names_the_key(served, tenant, tmp_path):
    root_tc, _ = clients(served, tenant, tenant["root"])
    key_id = create_key(root_tc).KeyId
    _, _, tc, hw = user_with(served, tenant, "upper-deny", [
        ("all", ALL_CAM, "cam"), ("no", deny_cam(tenant["uin"], key_id.upper()), "cam")], tmp_path)
    expect_error("UnauthorizedOperation", tc, "DescribeKey", KeyId=key_id)
    expect(403, "KMS.0306", hw.list_key_detail, m.ListKeyDetailRequest(
        body=m.OperateKeyRequestBody(key_id=key_id)))


def test_ciphertexts_and_re_encrypt_sources_are_authorized_under_their_key(served, tenant, tmp_path):
    root_tc, root_hw = clients(served, tenant, tenant["root"])
    k1, k2 = create_key(root_tc).KeyId, create_key(root_tc).KeyId
    rsa = create_key(root_tc, KeyUsage="ASYMMETRIC_DECRYPT_RSA_2048").KeyId
    _, _, tc, hw = user_with(served, tenant, "only-k2", [("k2", only_key_iam(k2), "iam")], tmp_path)
    dk = root_hw.create_datakey(m.CreateDatakeyRequest(body=m.CreateDatakeyRequestBody(key_id=k1)))
    blob_k1 = call(root_tc, "Encrypt", KeyId=k1, Plaintext=base64.b64encode(b"k1 secret").decode()).CiphertextBlob
    public = serialization.load_der_public_key(base64.b64decode(call(root_tc, "GetPublicKey", KeyId=rsa).PublicKey))
    wrapped = base64.b64encode(public.encrypt(b"rsa secret", OAEP_SHA256)).decode()

    def re_encrypt(**fields):
        return hw.re_encrypt(m.ReEncryptRequest(body=m.ReEncryptRequestBody(destination_key_id=k2, **fields)))

    # The review's reproductions: a hex data key blob of k1, and an RSA ciphertext named by
    # source_key_id, re-encrypted to the one key the user may use.
    expect(403, "KMS.0306", lambda: re_encrypt(cipher_text=dk.cipher_text))
    expect(403, "KMS.0306", lambda: re_encrypt(
        cipher_text=wrapped, source_key_id=rsa, source_encryption_algorithm="RSAES_OAEP_SHA_256"))
    expect(403, "KMS.0306", lambda: re_encrypt(cipher_text=blob_k1))
    expect(403, "KMS.0306", hw.decrypt_data, m.DecryptDataRequest(body=m.DecryptDataRequestBody(cipher_text=blob_k1)))
    expect(403, "KMS.0306", hw.decrypt_datakey, m.DecryptDatakeyRequest(body=m.DecryptDatakeyRequestBody(
        key_id=k2, cipher_text=dk.cipher_text, datakey_cipher_length="64")))
    # The same through Tencent's dialect (the user's IAM policy governs it too).
    expect_error("UnauthorizedOperation", tc, "Decrypt", CiphertextBlob=blob_k1)
    expect_error("UnauthorizedOperation", tc, "ReEncrypt", CiphertextBlob=blob_k1, DestinationKeyId=k2)
    expect_error("UnauthorizedOperation", tc, "AsymmetricRsaDecrypt", KeyId=rsa, Ciphertext=wrapped,
                 Algorithm="RSAES_OAEP_SHA_256")
    # What the user may use still works, and moving k2's data towards k1 is refused as well.
    blob_k2 = call(tc, "Encrypt", KeyId=k2, Plaintext=base64.b64encode(b"mine").decode()).CiphertextBlob
    assert base64.b64decode(call(tc, "Decrypt", CiphertextBlob=blob_k2).Plaintext) == b"mine"
    assert hw.re_encrypt(m.ReEncryptRequest(body=m.ReEncryptRequestBody(
        cipher_text=blob_k2, destination_key_id=k2))).key_id == k2
    expect_error("UnauthorizedOperation", tc, "ReEncrypt", CiphertextBlob=blob_k2, DestinationKeyId=k1)


def test_post_quantum_ciphertexts_and_hosted_data_keys_are_authorized_under_their_key(
        served, tenant, tmp_path):
    root_tc, _ = clients(served, tenant, tenant["root"])
    kem = create_key(root_tc, KeyUsage="ASYMMETRIC_Encrypt_Decrypt_Kyber_AES").KeyId
    cmk = create_key(root_tc).KeyId
    pq_blob = call(root_tc, "PostQuantumCryptoEncrypt", KeyId=kem,
                   PlainText=base64.b64encode(b"pq secret").decode()).CiphertextBlob
    hosted = call(root_tc, "GenerateDataKey", KeyId=cmk, NumberOfBytes=32, IsHostedByKms=1,
                  DataKeyName=f"dk-{cmk[:8]}")
    denied = {"version": "2.0", "statement": [{
        "effect": "deny", "action": ["kms:*"],
        "resource": [f"qcs::kms::uin/{tenant['uin']}:key/creatorUin/{tenant['uin']}/{k}" for k in (kem, cmk)]}]}
    _, _, tc, _ = user_with(served, tenant, "pq-hosted", [("all", ALL_CAM, "cam"), ("no", denied, "cam")],
                            tmp_path)
    expect_error("UnauthorizedOperation", tc, "PostQuantumCryptoDecrypt", CiphertextBlob=pq_blob)
    # A hosted data key is opened through its CMK, which the engine asks about.
    expect_error("UnauthorizedOperation", tc, "GetDataKeyPlaintext", DataKeyId=hosted.DataKeyId)
    # The data key's own record is not a key: describing it needs only the account-level allow.
    assert call(tc, "DescribeDataKey", DataKeyId=hosted.DataKeyId).DataKeyMetadata.KeyId == cmk


def test_aliases_and_grants_are_authorized_under_the_key_they_move_or_open(served, tenant, tmp_path):
    root_tc, root_hw = clients(served, tenant, tenant["root"])
    k1, k2 = create_key(root_tc).KeyId, create_key(root_tc).KeyId
    root_hw.create_alias(m.CreateAliasRequest(body=m.CreateAliasRequestBody(key_id=k1, alias="alias/payments")))
    _, _, _, hw = user_with(served, tenant, "alias-mover", [("k2", only_key_iam(k2), "iam")], tmp_path)
    # Moving the alias away from k1 (which it may not touch) onto k2 (which it may) is refused.
    expect(403, "KMS.0306", hw.associate_alias, m.AssociateAliasRequest(
        body=m.AssociateAliasRequestBody(alias="alias/payments", target_key_id=k2)))
    expect(403, "KMS.0306", hw.delete_alias, m.DeleteAliasRequest(
        body=m.DeleteAliasRequestBody(key_id=k1, aliases=["alias/payments"])))
    expect(403, "KMS.0306", hw.create_grant, m.CreateGrantRequest(body=m.CreateGrantRequestBody(
        key_id=k1, grantee_principal="123456789012", operations=["decrypt-data"])))
    expect(403, "KMS.0306", hw.list_grants, m.ListGrantsRequest(body=m.ListGrantsRequestBody(key_id=k1)))
    listed = root_hw.list_aliases(m.ListAliasesRequest(key_id=k1)).body[0].aliases
    assert [a.alias for a in listed] == ["alias/payments"]


def test_many_users_on_one_key_at_once_each_get_their_own_answer(served, tenant, tmp_path):
    """Allowed and denied users hammer one key in parallel: every allowed call succeeds with its
    own plaintext back, every denied one is refused, and the key is unchanged."""
    root_tc, _ = clients(served, tenant, tenant["root"])
    key_id = create_key(root_tc).KeyId
    _, _, allowed_tc, _ = user_with(served, tenant, "par-ok", [("all", ALL_CAM, "cam")], tmp_path)
    _, _, denied_tc, _ = user_with(served, tenant, "par-no", [
        ("all", ALL_CAM, "cam"), ("no", deny_cam(tenant["uin"], key_id), "cam")], tmp_path)

    def worker(i):
        text = f"caller {i}".encode()
        if i % 2:
            blob = call(allowed_tc, "Encrypt", KeyId=key_id, Plaintext=base64.b64encode(text).decode())
            back = call(allowed_tc, "Decrypt", CiphertextBlob=blob.CiphertextBlob)
            return "ok" if base64.b64decode(back.Plaintext) == text else f"wrong plaintext {i}"
        spelling = key_id.upper() if i % 4 == 0 else key_id
        try:
            call(denied_tc, "DisableKey", KeyId=spelling)
        except Exception as e:  # noqa: BLE001 - the code is what is checked
            return e.code
        return "a denied call succeeded"

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(worker, range(64)))
    assert answers.count("ok") == 32, answers
    assert answers.count("UnauthorizedOperation") == 32, answers
    assert call(root_tc, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState == "Enabled"


def with_condition(language, effect, operator, key, values):
    if language == "cam":
        return {"version": "2.0", "statement": [{"effect": effect, "action": ["kms:*"], "resource": ["*"],
                                                  "condition": {operator: {key: values}}}]}
    return {"Version": "1.1", "Statement": [{"Effect": effect, "Action": ["kms:*:*"],
                                             "Condition": {operator: {key: values}}}]}


def lists(tc, hw):
    """Whether the user may list keys, asked through both SDKs, which must agree."""
    try:
        call(tc, "ListKeys")
        tencent = True
    except Exception as e:  # noqa: BLE001 - the code is checked below
        assert e.code == "UnauthorizedOperation", e
        tencent = False
    try:
        hw.list_keys(m.ListKeysRequest(body=m.ListKeysRequestBody()))
        huawei = True
    except Exception as e:  # noqa: BLE001
        assert (e.status_code, e.error_code) == (403, "KMS.0306"), e
        huawei = False
    assert tencent == huawei
    return tencent


@pytest.mark.parametrize("language,policy,allowed", [
    # The source address: a Deny on it applies, an Allow with a negated operator does not.
    ("cam", [("allow", None), ("deny", ("ip_equal", "qcs:ip", ["127.0.0.1"]))], False),
    ("cam", [("allow", ("ip_not_equal", "qcs:ip", ["127.0.0.1"]))], False),
    ("cam", [("allow", ("ip_equal", "qcs:ip", ["127.0.0.0/8"]))], True),
    ("iam", [("Allow", ("IpAddress", "g:SourceIp", ["127.0.0.0/8"]))], True),
    ("iam", [("Allow", ("NotIpAddress", "g:SourceIp", ["127.0.0.0/8"]))], False),
    ("iam", [("Allow", None), ("Deny", ("NotIpAddress", "g:SourceIp", ["10.0.0.0/8"]))], False),
    # The user's name and the domain (the account) name.
    ("iam", [("Allow", None), ("Deny", ("StringEquals", "g:UserName", ["{name}"]))], False),
    ("iam", [("Allow", ("StringNotEquals", "g:UserName", ["{name}"]))], False),
    ("iam", [("Allow", ("StringEqualsIgnoreCase", "g:UserName", ["{NAME}"]))], True),
    ("iam", [("Allow", None), ("Deny", ("StringEquals", "g:DomainName", ["{uin}"]))], False),
    ("iam", [("Allow", ("StringEquals", "g:DomainName", ["{uin}"]))], True),
])
def test_conditions_are_evaluated(served, tenant, tmp_path, language, policy, allowed):
    name = f"cond-{abs(hash((language, json.dumps(policy)))) % 10**8}"
    fill = {"name": name, "NAME": name.upper(), "uin": tenant["uin"]}
    documents = []
    for i, (effect, condition) in enumerate(policy):
        if condition is None:
            doc = ALL_CAM if language == "cam" else {
                "Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["kms:*:*"]}]}
        else:
            operator, key, values = condition
            doc = with_condition(language, effect, operator, key, [v.format(**fill) for v in values])
        documents.append((f"p{i}", doc, language))
    _, _, tc, hw = user_with(served, tenant, name, documents, tmp_path)
    assert lists(tc, hw) == allowed


def test_the_address_behind_a_proxy_counts_only_when_the_proxy_is_trusted(tenant, tmp_path):
    only_from = {"version": "2.0", "statement": [{"effect": "allow", "action": ["kms:*"], "resource": ["*"],
                                                  "condition": {"ip_equal": {"qcs:ip": ["203.0.113.9"]}}}]}
    forwarded = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    for trusted, expected in [(["--trusted-proxies", "127.0.0.1,10.0.0.0/8"], "ok"), ([], "refused")]:
        proc = KmsdProcess(extra_args=trusted).start()
        try:
            account = admin("account", "create", server=proc)
            uin = str(account["uin"])
            user = admin("user", "create", "--account", uin, "behind-proxy", server=proc)
            attach_policy(proc, uin, user["id"], "from-proxy", only_from, "cam", tmp_path)
            cred = admin("credential", "create", "--account", uin, "--user", user["id"], server=proc)
            auth = {"secret_id": cred["secret_id"], "secret_key": cred["secret_key"]}
            answer = tc3_post(proc.endpoint, "ListKeys", {}, headers=forwarded, **auth)
            assert ("Error" not in answer) == (expected == "ok"), answer
            if expected == "refused":
                assert answer["Error"]["Code"] == "UnauthorizedOperation"
            # Without the header the client is the peer itself, which the policy does not allow.
            bare = tc3_post(proc.endpoint, "ListKeys", {}, **auth)
            assert bare["Error"]["Code"] == "UnauthorizedOperation"
            # A client that forges the header while the proxy is not trusted gains nothing:
            # here the peer (127.0.0.1) is trusted, so the nearest untrusted hop counts.
            forged = tc3_post(proc.endpoint, "ListKeys", {}, headers={"X-Forwarded-For": "203.0.113.9, 192.0.2.5"},
                              **auth)
            assert forged["Error"]["Code"] == "UnauthorizedOperation"
        finally:
            proc.cleanup()


def test_a_refused_setting_names_the_bad_proxy(tmp_path):
    proc = KmsdProcess(extra_args=["--trusted-proxies", "proxy.example"])
    with pytest.raises(RuntimeError) as info:
        proc.start()
    assert "--trusted-proxies" in str(info.value) and "proxy.example" in str(info.value)
    proc.cleanup()
