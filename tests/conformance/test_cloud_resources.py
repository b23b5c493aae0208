"""BindCloudResource / UnbindCloudResource through the official SDK: a key bound to a cloud product's
resource cannot be scheduled for deletion or archived until every binding is gone."""

import uuid

from conftest import call, create_key, expect_error

USED = "FailedOperation.CmkUsedByCloudProduct"
NOT_BOUND = "ResourceUnavailable.CloudResourceBindingNotFound"


def resource():
    return {"ProductId": "cbs", "ResourceId": f"disk-{uuid.uuid4().hex[:12]}"}


def disabled_key(kms, **extra):
    key_id = create_key(kms, **extra).KeyId
    call(kms, "DisableKey", KeyId=key_id)
    return key_id


def state(kms, key_id):
    return call(kms, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState


def test_bound_key_cannot_be_scheduled_for_deletion_until_unbound(kms):
    key_id = create_key(kms).KeyId
    disk = resource()
    r = call(kms, "BindCloudResource", KeyId=key_id, **disk)
    assert r.RequestId
    call(kms, "DisableKey", KeyId=key_id)
    expect_error(USED, kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    assert state(kms, key_id) == "Disabled"
    call(kms, "UnbindCloudResource", KeyId=key_id, **disk)
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    assert state(kms, key_id) == "PendingDelete"


def test_every_binding_must_go(kms):
    key_id = disabled_key(kms)
    first, second = resource(), {"ProductId": "cvm", "ResourceId": "ins-0001"}
    call(kms, "BindCloudResource", KeyId=key_id, **first)
    call(kms, "BindCloudResource", KeyId=key_id, **second)
    call(kms, "UnbindCloudResource", KeyId=key_id, **first)
    expect_error(USED, kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    call(kms, "UnbindCloudResource", KeyId=key_id, **second)
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)


def test_binding_twice_is_one_binding(kms):
    key_id = disabled_key(kms)
    disk = resource()
    call(kms, "BindCloudResource", KeyId=key_id, **disk)
    call(kms, "BindCloudResource", KeyId=key_id, **disk)
    call(kms, "UnbindCloudResource", KeyId=key_id, **disk)
    expect_error(NOT_BOUND, kms, "UnbindCloudResource", KeyId=key_id, **disk)
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)


def test_one_resource_may_bind_several_keys(kms):
    disk = resource()
    a, b = disabled_key(kms), disabled_key(kms)
    call(kms, "BindCloudResource", KeyId=a, **disk)
    call(kms, "BindCloudResource", KeyId=b, **disk)
    call(kms, "UnbindCloudResource", KeyId=a, **disk)
    call(kms, "ScheduleKeyDeletion", KeyId=a, PendingWindowInDays=7)
    expect_error(USED, kms, "ScheduleKeyDeletion", KeyId=b, PendingWindowInDays=7)


def test_unbinding_what_is_not_bound(kms):
    key_id = create_key(kms).KeyId
    disk = resource()
    expect_error(NOT_BOUND, kms, "UnbindCloudResource", KeyId=key_id, **disk)
    call(kms, "BindCloudResource", KeyId=key_id, **disk)
    expect_error(NOT_BOUND, kms, "UnbindCloudResource", KeyId=key_id, ProductId="cvm", ResourceId=disk["ResourceId"])
    expect_error(NOT_BOUND, kms, "UnbindCloudResource", KeyId=key_id, ProductId=disk["ProductId"], ResourceId="other")
    other = create_key(kms).KeyId
    expect_error(NOT_BOUND, kms, "UnbindCloudResource", KeyId=other, **disk)
    call(kms, "UnbindCloudResource", KeyId=key_id, **disk)


def test_asymmetric_keys_bind_too(kms):
    key_id = disabled_key(kms, KeyUsage="ASYMMETRIC_SIGN_VERIFY_ECC")
    disk = resource()
    call(kms, "BindCloudResource", KeyId=key_id, **disk)
    expect_error(USED, kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    call(kms, "UnbindCloudResource", KeyId=key_id, **disk)
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)


def test_binding_parameter_errors(kms):
    key_id = create_key(kms).KeyId
    for action in ("BindCloudResource", "UnbindCloudResource"):
        expect_error("MissingParameter", kms, action, KeyId=key_id, ProductId="cbs")
        expect_error("MissingParameter", kms, action, KeyId=key_id, ResourceId="disk-1")
        expect_error("MissingParameter", kms, action, ProductId="cbs", ResourceId="disk-1")
        expect_error("ResourceUnavailable.CmkNotFound", kms, action, KeyId=str(uuid.uuid4()), **resource())
        expect_error("InvalidParameterValue.InvalidKeyId", kms, action, KeyId="nope", **resource())


def test_bound_key_cannot_be_archived(kms):
    key_id = create_key(kms).KeyId
    disk = resource()
    call(kms, "BindCloudResource", KeyId=key_id, **disk)
    expect_error(USED, kms, "ArchiveKey", KeyId=key_id)
    assert state(kms, key_id) == "Enabled"
    call(kms, "UnbindCloudResource", KeyId=key_id, **disk)
    call(kms, "ArchiveKey", KeyId=key_id)
    assert state(kms, key_id) == "Archived"
