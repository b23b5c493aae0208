"""Permission policies through both official SDKs: a user gets only what its attached CAM or IAM
policies allow, on both dialects; an explicit deny beats any allow; a user without a policy gets
nothing; the account's root is never evaluated; detaching takes effect at once."""

import base64
import json

import pytest
from huaweicloudsdkkms.v2 import model as m

from conftest import PROJECT_ID, SECRET_ID, SECRET_KEY, KmsdProcess, call, create_key, expect_error
from huawei import expect
from test_admin import admin, attach_policy, clients

ENCRYPT_ONLY_CAM = {"version": "2.0", "statement": [
    {"effect": "allow", "action": ["kms:Encrypt"], "resource": ["*"]}]}
ENCRYPT_ONLY_IAM = {"Version": "1.1", "Statement": [
    {"Effect": "Allow", "Action": ["kms:cmk:encryptData"]}]}


@pytest.fixture(scope="module")
def served():
    proc = KmsdProcess().start()
    yield proc
    proc.cleanup()


@pytest.fixture(scope="module")
def tenant(served):
    account = admin("account", "create", server=served)
    uin = str(account["uin"])
    root = {"secret_id": account["secret_id"], "secret_key": account["secret_key"]}
    return {"account": account, "uin": uin, "root": root}


def user_with(served, tenant, name, policies, tmp_path):
    """A new user of the tenant with the given (name, document, language) policies attached, and
    its Tencent and Huawei clients."""
    user = admin("user", "create", "--account", tenant["uin"], name, server=served)
    for policy_name, document, language in policies:
        attach_policy(served, tenant["uin"], user["id"], f"{name}-{policy_name}", document, language, tmp_path)
    credential = admin("credential", "create", "--account", tenant["uin"], "--user", user["id"], server=served)
    return (user, *clients(served, tenant, credential))


def hw_encrypt(hw, key_id):
    return hw.encrypt_data(m.EncryptDataRequest(body=m.EncryptDataRequestBody(key_id=key_id, plain_text="p")))


def hw_describe(hw, key_id):
    return hw.list_key_detail(m.ListKeyDetailRequest(body=m.OperateKeyRequestBody(key_id=key_id)))


@pytest.mark.parametrize("language,document", [("cam", ENCRYPT_ONLY_CAM), ("iam", ENCRYPT_ONLY_IAM)])
def test_a_user_allowed_only_encrypt_encrypts_and_nothing_else_through_both_dialects(
        served, tenant, tmp_path, language, document):
    root_tc, root_hw = clients(served, tenant, tenant["root"])
    key_id = create_key(root_tc).KeyId
    _, tc, hw = user_with(served, tenant, f"enc-{language}", [("p", document, language)], tmp_path)
    blob = call(tc, "Encrypt", KeyId=key_id, Plaintext=base64.b64encode(b"x").decode()).CiphertextBlob
    assert hw_encrypt(hw, key_id).key_id == key_id
    for action, params in [("Decrypt", {"CiphertextBlob": blob}), ("DescribeKey", {"KeyId": key_id}),
                           ("ListKeys", {}), ("CreateKey", {"Alias": f"nope-{language}"}),
                           ("DisableKey", {"KeyId": key_id}), ("GenerateDataKey", {"KeyId": key_id})]:
        expect_error("UnauthorizedOperation", tc, action, **params)
    expect(403, "KMS.0306", hw_describe, hw, key_id)
    expect(403, "KMS.0306", hw.decrypt_data, m.DecryptDataRequest(body=m.DecryptDataRequestBody(cipher_text=blob)))
    expect(403, "KMS.0306", hw.list_keys, m.ListKeysRequest(body=m.ListKeysRequestBody()))
    expect(403, "KMS.0306", hw.create_key, m.CreateKeyRequest(body=m.CreateKeyRequestBody(key_alias=f"no-{language}")))
    # The key was never changed by the refused calls; the root still does everything.
    assert call(root_tc, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState == "Enabled"
    assert hw_describe(root_hw, key_id).key_info.key_state == "2"


def test_deny_beats_allow_and_resources_narrow(served, tenant, tmp_path):
    root_tc, _ = clients(served, tenant, tenant["root"])
    allowed_key, denied_key, other_key = (create_key(root_tc).KeyId for _ in range(3))
    everything = {"version": "2.0", "statement": [{"effect": "allow", "action": ["kms:*"], "resource": ["*"]}]}
    deny_one = {"Version": "1.1", "Statement": [{"Effect": "Deny", "Action": ["kms:cmk:*"],
                                                 "Resource": [f"KMS:*:*:KeyId:{denied_key}"]}]}
    _, tc, hw = user_with(served, tenant, "deny", [("all", everything, "cam"), ("no", deny_one, "iam")], tmp_path)
    assert call(tc, "DescribeKey", KeyId=allowed_key).KeyMetadata.KeyId == allowed_key
    expect_error("UnauthorizedOperation", tc, "DescribeKey", KeyId=denied_key)
    expect_error("UnauthorizedOperation", tc, "DescribeKeys", KeyIds=[allowed_key, denied_key])
    expect(403, "KMS.0306", hw_describe, hw, denied_key)
    assert hw_describe(hw, allowed_key).key_info.key_id == allowed_key

    uin = tenant["uin"]
    one_key = {"version": "2.0", "statement": [{
        "effect": "allow", "action": ["kms:Describe*", "kms:Encrypt"],
        "resource": [f"qcs::kms:ap-guangzhou:uin/{uin}:key/creatorUin/{uin}/{other_key}"]}]}
    _, tc2, hw2 = user_with(served, tenant, "narrow", [("one", one_key, "cam")], tmp_path)
    assert call(tc2, "DescribeKey", KeyId=other_key).KeyMetadata.KeyId == other_key
    assert hw_describe(hw2, other_key).key_info.key_id == other_key
    expect_error("UnauthorizedOperation", tc2, "DescribeKey", KeyId=allowed_key)
    expect(403, "KMS.0306", hw_encrypt, hw2, allowed_key)
    assert hw_encrypt(hw2, other_key).key_id == other_key


def test_no_policy_means_nothing_and_detach_takes_effect_at_once(served, tenant, tmp_path):
    root_tc, _ = clients(served, tenant, tenant["root"])
    key_id = create_key(root_tc).KeyId
    user, tc, hw = user_with(served, tenant, "bare", [], tmp_path)
    expect_error("UnauthorizedOperation", tc, "ListKeys")
    expect(403, "KMS.0306", hw.list_keys, m.ListKeysRequest(body=m.ListKeysRequestBody()))
    attach_policy(served, tenant["uin"], user["id"], "bare-enc", ENCRYPT_ONLY_CAM, "cam", tmp_path)
    assert hw_encrypt(hw, key_id).key_id == key_id
    admin("policy", "detach", "--account", tenant["uin"], "--user", user["id"], "bare-enc", server=served)
    expect(403, "KMS.0306", hw_encrypt, hw, key_id)
    expect_error("UnauthorizedOperation", tc, "Encrypt", KeyId=key_id, Plaintext="eA==")


def test_documents_the_evaluator_cannot_read_are_refused_at_creation(served, tenant, tmp_path):
    bad = {"version": "2.0", "statement": [{"effect": "allow", "action": ["kms:Encrypt"], "resource": ["*"],
                                            "condition": {"made_up_operator": {"x": "y"}}}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    done = admin("policy", "create", "--account", tenant["uin"], "bad", "--language", "cam",
                 "--document", str(path), server=served, check=False)
    assert done.returncode == 1 and "refused" in done.stderr


def test_a_grant_lets_another_account_decrypt_until_it_is_revoked(served, tenant, tmp_path):
    """The root account grants the tenant's domain decrypt-data on one key; the tenant's root and
    a tenant user whose policy allows decryption open the root's ciphertext through Huawei, until
    the grant is revoked. Nothing else of the key is theirs."""
    owner_tc, owner_hw = clients(served, {"account": {"project_id": PROJECT_ID}},
                                 {"secret_id": SECRET_ID, "secret_key": SECRET_KEY})
    key_id = create_key(owner_tc).KeyId
    blob = hw_encrypt(owner_hw, key_id).cipher_text
    grant_id = owner_hw.create_grant(m.CreateGrantRequest(body=m.CreateGrantRequestBody(
        key_id=key_id, grantee_principal=tenant["uin"], grantee_principal_type="domain",
        operations=["decrypt-data"]))).grant_id
    _, tenant_hw = clients(served, tenant, tenant["root"])
    decrypt = m.DecryptDataRequest(body=m.DecryptDataRequestBody(cipher_text=blob))
    assert tenant_hw.decrypt_data(decrypt).plain_text == "p"
    decrypt_only = {"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["kms:cmk:decryptData"]}]}
    _, _, user_hw = user_with(served, tenant, "grantee", [("dec", decrypt_only, "iam")], tmp_path)
    assert user_hw.decrypt_data(decrypt).plain_text == "p"
    _, _, bare_hw = user_with(served, tenant, "grantee-bare", [], tmp_path)
    expect(403, "KMS.0306", bare_hw.decrypt_data, decrypt)
    expect(404, "KMS.0207", hw_encrypt, tenant_hw, key_id)
    expect(404, "KMS.0207", hw_describe, tenant_hw, key_id)
    owner_hw.cancel_grant(m.CancelGrantRequest(body=m.RevokeGrantRequestBody(key_id=key_id, grant_id=grant_id)))
    expect(404, "KMS.0207", tenant_hw.decrypt_data, decrypt)
    expect(404, "KMS.0207", user_hw.decrypt_data, decrypt)
    assert owner_hw.decrypt_data(decrypt).plain_text == "p"
