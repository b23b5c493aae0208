"""Hosted data keys through the official SDK: GenerateDataKey with IsHostedByKms, ImportDataKey
(both import types, including the seed page's own example) and every data key action."""

import base64
import time
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives import serialization

from conftest import KmsdProcess, b64, call, create_key, expect_error

MISSING_ID = "00000000-0000-4000-8000-000000000000"


def name(prefix="dk"):
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def hosted(kms, key_id, **extra):
    extra.setdefault("DataKeyName", name())
    return call(kms, "GenerateDataKey", KeyId=key_id, NumberOfBytes=32, IsHostedByKms=1, **extra)


def meta(kms, data_key_id):
    return call(kms, "DescribeDataKey", DataKeyId=data_key_id).DataKeyMetadata


def test_seed_example_imports_a_plaintext_data_key(kms):
    """ImportDataKey as the vendor's page shows it: ImportType 2, "MTIzNAo=" and a KeyId."""
    cmk = create_key(kms)
    r = call(kms, "ImportDataKey", DataKeyName="test_weijia_0123456", ImportKeyMaterial="MTIzNAo=",
             ImportType=2, Description="Data key import test", KeyId=cmk.KeyId)
    assert r.KeyId == cmk.KeyId and r.TagCode == 0
    m = meta(kms, r.DataKeyId)
    assert (m.DataKeyName, m.NumberOfBytes, m.Origin, m.KeyState) == ("test_weijia_0123456", 5, "EXTERNAL", "Enabled")
    assert (m.Description, m.KeyId, m.KeyName) == ("Data key import test", cmk.KeyId, cmk.Alias)
    assert base64.b64decode(call(kms, "GetDataKeyPlaintext", DataKeyId=r.DataKeyId).Plaintext) == b"1234\n"
    expect_error("InvalidParameterValue.DataKeyNameAlreadyExists", kms, "ImportDataKey",
                 DataKeyName="test_weijia_0123456", ImportKeyMaterial="MTIzNAo=", ImportType=2, KeyId=cmk.KeyId)


def test_hosted_generation_keeps_the_key(kms):
    cmk = create_key(kms).KeyId
    g = hosted(kms, cmk, Description="d", Tags=[{"TagKey": "env", "TagValue": "dev"}],
               EncryptionContext='{"app":"x"}')
    assert g.DataKeyId
    assert call(kms, "GetDataKeyPlaintext", DataKeyId=g.DataKeyId).Plaintext == g.Plaintext
    assert call(kms, "GetDataKeyCiphertextBlob", DataKeyId=g.DataKeyId).CiphertextBlob == g.CiphertextBlob
    dec = call(kms, "Decrypt", CiphertextBlob=g.CiphertextBlob, EncryptionContext='{"app":"x"}')
    assert dec.Plaintext == g.Plaintext
    m = meta(kms, g.DataKeyId)
    assert (m.NumberOfBytes, m.Origin, m.Description) == (32, "TENCENT_KMS", "d")
    plain = call(kms, "GenerateDataKey", KeyId=cmk, NumberOfBytes=16)
    assert plain.DataKeyId == "", "without IsHostedByKms nothing is kept"


def test_hosted_generation_bad_input(kms):
    cmk = create_key(kms).KeyId
    expect_error("MissingParameter", kms, "GenerateDataKey", KeyId=cmk, NumberOfBytes=32, IsHostedByKms=1)
    expect_error("InvalidParameterValue.InvalidDataKeyName", kms, "GenerateDataKey", KeyId=cmk,
                 NumberOfBytes=32, IsHostedByKms=1, DataKeyName="-bad")
    expect_error("InvalidParameterValue.InvalidDataKeyName", kms, "GenerateDataKey", KeyId=cmk,
                 NumberOfBytes=32, IsHostedByKms=1, DataKeyName="x" * 61)
    expect_error("InvalidParameterValue", kms, "GenerateDataKey", KeyId=cmk, NumberOfBytes=32,
                 IsHostedByKms=1, DataKeyName=name(), Description="d" * 101)
    expect_error("InvalidParameterValue", kms, "GenerateDataKey", KeyId=cmk, NumberOfBytes=32, IsHostedByKms=2)
    taken = name()
    hosted(kms, cmk, DataKeyName=taken)
    expect_error("InvalidParameterValue.DataKeyNameAlreadyExists", kms, "GenerateDataKey", KeyId=cmk,
                 NumberOfBytes=32, IsHostedByKms=1, DataKeyName=taken)


def test_import_by_ciphertext(kms):
    cmk = create_key(kms).KeyId
    other = create_key(kms).KeyId
    g = call(kms, "GenerateDataKey", KeyId=cmk, KeySpec="AES_128")
    r = call(kms, "ImportDataKey", DataKeyName=name(), ImportKeyMaterial=g.CiphertextBlob, ImportType=1)
    assert r.KeyId == cmk
    m = meta(kms, r.DataKeyId)
    assert (m.NumberOfBytes, m.Origin) == (16, "TENCENT_KMS")
    assert call(kms, "GetDataKeyPlaintext", DataKeyId=r.DataKeyId).Plaintext == g.Plaintext
    call(kms, "ImportDataKey", DataKeyName=name(), ImportKeyMaterial=g.CiphertextBlob, ImportType=1, KeyId=cmk)
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "ImportDataKey", DataKeyName=name(),
                 ImportKeyMaterial=g.CiphertextBlob, ImportType=1, KeyId=other)
    expect_error("InvalidParameterValue.InvalidImportKeyMaterial", kms, "ImportDataKey", DataKeyName=name(),
                 ImportKeyMaterial=b64(b"not ours"), ImportType=1)


def test_import_bad_input(kms):
    cmk = create_key(kms).KeyId
    expect_error("MissingParameter", kms, "ImportDataKey", DataKeyName=name(), ImportKeyMaterial="MTIzNAo=",
                 ImportType=2)
    expect_error("InvalidParameterValue.InvalidType", kms, "ImportDataKey", DataKeyName=name(),
                 ImportKeyMaterial="MTIzNAo=", ImportType=3, KeyId=cmk)
    expect_error("InvalidParameterValue.InvalidImportKeyMaterial", kms, "ImportDataKey", DataKeyName=name(),
                 ImportKeyMaterial="@@@", ImportType=2, KeyId=cmk)
    expect_error("InvalidParameterValue.InvalidImportKeyMaterial", kms, "ImportDataKey", DataKeyName=name(),
                 ImportKeyMaterial=b64(b"k" * 1025), ImportType=2, KeyId=cmk)
    expect_error("MissingParameter", kms, "ImportDataKey", ImportKeyMaterial="MTIzNAo=", ImportType=2, KeyId=cmk)
    expect_error("ResourceUnavailable.CmkNotFound", kms, "ImportDataKey", DataKeyName=name(),
                 ImportKeyMaterial="MTIzNAo=", ImportType=2, KeyId=MISSING_ID)
    call(kms, "DisableKey", KeyId=cmk)
    expect_error("ResourceUnavailable.CmkDisabled", kms, "ImportDataKey", DataKeyName=name(),
                 ImportKeyMaterial="MTIzNAo=", ImportType=2, KeyId=cmk)


def test_describe_and_lookup_errors(kms):
    cmk = create_key(kms).KeyId
    a, b = hosted(kms, cmk).DataKeyId, hosted(kms, cmk).DataKeyId
    found = call(kms, "DescribeDataKeys", DataKeyIds=[a, MISSING_ID, b]).DataKeyMetadatas
    assert {m.DataKeyId for m in found} == {a, b}
    expect_error("InvalidParameterValue.DuplicatedDataKeyId", kms, "DescribeDataKeys", DataKeyIds=[a, a])
    expect_error("InvalidParameterValue.InvalidDataKeyId", kms, "DescribeDataKey", DataKeyId="nope")
    expect_error("ResourceUnavailable.DataKeyNotFound", kms, "DescribeDataKey", DataKeyId=MISSING_ID)
    expect_error("ResourceUnavailable.DataKeyNotFound", kms, "GetDataKeyPlaintext", DataKeyId=MISSING_ID)
    expect_error("InvalidParameterValue", kms, "DescribeDataKeys", DataKeyIds=[str(uuid.uuid4()) for _ in range(101)])


def test_enable_disable_and_usability(kms):
    cmk = create_key(kms).KeyId
    a, b = hosted(kms, cmk).DataKeyId, hosted(kms, cmk).DataKeyId
    call(kms, "DisableDataKey", DataKeyId=a)
    assert meta(kms, a).KeyState == "Disabled"
    expect_error("ResourceUnavailable.DataKeyDisabled", kms, "GetDataKeyPlaintext", DataKeyId=a)
    expect_error("ResourceUnavailable.DataKeyStateNotSupport", kms, "GetDataKeyCiphertextBlob", DataKeyId=a)
    call(kms, "EnableDataKey", DataKeyId=a)
    call(kms, "DisableDataKeys", DataKeyIds=[a, b])
    assert {meta(kms, i).KeyState for i in (a, b)} == {"Disabled"}
    call(kms, "EnableDataKeys", DataKeyIds=[a, b])
    assert {meta(kms, i).KeyState for i in (a, b)} == {"Enabled"}
    call(kms, "DisableKey", KeyId=cmk)
    expect_error("ResourceUnavailable.CmkDisabled", kms, "GetDataKeyPlaintext", DataKeyId=a)
    call(kms, "DisableDataKey", DataKeyId=b)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "EnableDataKey", DataKeyId=b)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "EnableDataKeys", DataKeyIds=[a, b])
    call(kms, "EnableKey", KeyId=cmk)
    assert call(kms, "GetDataKeyPlaintext", DataKeyId=a).Plaintext
    call(kms, "EnableDataKey", DataKeyId=b)


def test_deletion_schedule_and_cancel(kms):
    cmk = create_key(kms).KeyId
    dk = hosted(kms, cmk).DataKeyId
    expect_error("InvalidParameter.InvalidPendingWindowInDays", kms, "ScheduleDataKeyDeletion",
                 DataKeyId=dk, PendingWindowInDays=6)
    expect_error("InvalidParameter.InvalidPendingWindowInDays", kms, "ScheduleDataKeyDeletion",
                 DataKeyId=dk, PendingWindowInDays=31)
    expect_error("ResourceUnavailable.DataKeyNotPendingDelete", kms, "CancelDataKeyDeletion", DataKeyId=dk)
    r = call(kms, "ScheduleDataKeyDeletion", DataKeyId=dk, PendingWindowInDays=7)
    assert r.DataKeyId == dk and abs(r.DeletionDate - (time.time() + 7 * 86400)) < 60
    m = meta(kms, dk)
    assert (m.KeyState, m.DeletionDate) == ("PendingDelete", r.DeletionDate)
    expect_error("ResourceUnavailable.DataKeyPendingDelete", kms, "GetDataKeyPlaintext", DataKeyId=dk)
    expect_error("ResourceUnavailable.DataKeyStateNotSupport", kms, "EnableDataKey", DataKeyId=dk)
    expect_error("ResourceUnavailable.DataKeyStateNotSupport", kms, "ScheduleDataKeyDeletion",
                 DataKeyId=dk, PendingWindowInDays=7)
    call(kms, "DisableKey", KeyId=cmk)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "CancelDataKeyDeletion", DataKeyId=dk)
    call(kms, "EnableKey", KeyId=cmk)
    assert call(kms, "CancelDataKeyDeletion", DataKeyId=dk).DataKeyId == dk
    assert meta(kms, dk).KeyState == "Disabled"


def test_rename_and_describe(kms):
    cmk = create_key(kms).KeyId
    a, b = hosted(kms, cmk), hosted(kms, cmk)
    new = name("renamed")
    call(kms, "UpdateDataKeyName", DataKeyId=a.DataKeyId, DataKeyName=new)
    assert meta(kms, a.DataKeyId).DataKeyName == new
    expect_error("InvalidParameterValue.DataKeyNameAlreadyExists", kms, "UpdateDataKeyName",
                 DataKeyId=b.DataKeyId, DataKeyName=new)
    expect_error("InvalidParameterValue.InvalidDataKeyName", kms, "UpdateDataKeyName",
                 DataKeyId=b.DataKeyId, DataKeyName="bad name")
    call(kms, "UpdateDataKeyDescription", DataKeyId=a.DataKeyId, Description="x" * 100)
    assert meta(kms, a.DataKeyId).Description == "x" * 100
    expect_error("InvalidParameterValue", kms, "UpdateDataKeyDescription", DataKeyId=a.DataKeyId,
                 Description="x" * 101)


def test_listing_filters_and_paging(server):
    kms = server.client(region="ap-shanghai")
    cmk = create_key(kms).KeyId
    other = create_key(kms).KeyId
    ids = [hosted(kms, cmk, Tags=[{"TagKey": "n", "TagValue": str(i)}]).DataKeyId for i in range(3)]
    imported = call(kms, "ImportDataKey", DataKeyName=name("imp"), ImportKeyMaterial="MTIzNAo=",
                    ImportType=2, KeyId=other).DataKeyId
    call(kms, "DisableDataKey", DataKeyId=ids[0])
    listed = call(kms, "ListDataKeys", Limit=2, Offset=1)
    assert listed.TotalCount == 4
    assert [d.DataKeyId for d in listed.DataKeys] == ids[1:3]
    assert call(kms, "ListDataKeys", Role=1).TotalCount == 0

    def detail(**f):
        r = call(kms, "ListDataKeyDetail", Limit=10, **f)
        return r.TotalCount, [m.DataKeyId for m in r.DataKeyMetadatas]

    assert detail()[0] == 4
    assert detail(OrderType=1)[1] == ids + [imported]
    assert detail(KeyState=2) == (1, [ids[0]])
    assert detail(Origin="EXTERNAL") == (1, [imported])
    assert detail(KeyId=other) == (1, [imported])
    assert detail(DataKeyLen=5) == (1, [imported])
    assert detail(SearchKeyAlias="imp_") == (1, [imported])
    assert detail(TagFilters=[{"TagKey": "n", "TagValue": ["1", "2"]}])[0] == 2
    expect_error("InvalidParameterValue", kms, "ListDataKeyDetail", KeyState=4)
    expect_error("InvalidParameterValue", kms, "ListDataKeyDetail", Origin="OTHER")
    expect_error("InvalidParameterValue", kms, "ListDataKeys", Limit=201)


def test_plaintext_can_be_wrapped_to_a_callers_rsa_key(kms):
    cmk = create_key(kms).KeyId
    g = hosted(kms, cmk)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    r = call(kms, "GetDataKeyPlaintext", DataKeyId=g.DataKeyId, EncryptionPublicKey=pem,
             EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    assert private.decrypt(base64.b64decode(r.Plaintext), oaep) == base64.b64decode(g.Plaintext)


def test_service_status_and_the_data_key_limit():
    proc = KmsdProcess(extra_args=["--max-data-keys-per-region", "1"]).start()
    try:
        kms = proc.client()
        cmk = create_key(kms).KeyId
        hosted(kms, cmk)
        expect_error("LimitExceeded.DataKeyLimitExceeded", kms, "GenerateDataKey", KeyId=cmk,
                     NumberOfBytes=32, IsHostedByKms=1, DataKeyName=name())
        expect_error("LimitExceeded.DataKeyLimitExceeded", kms, "ImportDataKey", DataKeyName=name(),
                     ImportKeyMaterial="MTIzNAo=", ImportType=2, KeyId=cmk)
        status = call(kms, "GetServiceStatus")
        assert (status.IsAllowedDataKeyHosted, status.DataKeyLimit, status.DataKeyUsedCount) == (True, 1, 1)
        # A data key scheduled for deletion frees its place; cancelling needs the place back.
        first = call(kms, "ListDataKeys").DataKeys[0].DataKeyId
        call(kms, "ScheduleDataKeyDeletion", DataKeyId=first, PendingWindowInDays=7)
        second = hosted(kms, cmk).DataKeyId
        expect_error("LimitExceeded.DataKeyLimitExceeded", kms, "CancelDataKeyDeletion", DataKeyId=first)
        call(kms, "ScheduleDataKeyDeletion", DataKeyId=second, PendingWindowInDays=7)
        call(kms, "CancelDataKeyDeletion", DataKeyId=first)
    finally:
        proc.cleanup()
