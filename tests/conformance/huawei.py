"""Helpers for driving kmsd through Huawei's official SDK (huaweicloudsdkkms)."""

import uuid

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkkms.v2 import KmsClient
from huaweicloudsdkkms.v2 import model as m

from conftest import PROJECT_ID, SECRET_ID, SECRET_KEY
from huawei_signing import sign_request as _sign


def huawei_client(endpoint, ak=SECRET_ID, sk=SECRET_KEY, project_id=PROJECT_ID, algorithm=None):
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    if algorithm is not None:
        config.signing_algorithm = algorithm
    return (KmsClient.new_builder()
            .with_http_config(config)
            .with_credentials(BasicCredentials(ak, sk, project_id))
            .with_endpoints([f"http://{endpoint}"])
            .build())


def alias():
    return f"hw-{uuid.uuid4().hex[:20]}"


def new_key(hw, **fields):
    fields.setdefault("key_alias", alias())
    return hw.create_key(m.CreateKeyRequest(body=m.CreateKeyRequestBody(**fields))).key_info.key_id


def describe(hw, key_id):
    return hw.list_key_detail(m.ListKeyDetailRequest(body=m.OperateKeyRequestBody(key_id=key_id))).key_info


def expect(status, code, fn, *args):
    with pytest.raises(ClientRequestException) as info:
        fn(*args)
    assert (info.value.status_code, info.value.error_code) == (status, code), info.value.error_msg
    assert info.value.request_id
    return info.value



def sign_request(method, path, *, ak=SECRET_ID, sk=SECRET_KEY, **kw):
    """Headers of a request signed with the root credential unless told otherwise."""
    return _sign(method, path, ak=ak, sk=sk, **kw)
