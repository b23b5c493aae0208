"""Helpers for driving kmsd through Huawei's official SDK (huaweicloudsdkkms)."""

import uuid

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkkms.v2 import KmsClient
from huaweicloudsdkkms.v2 import model as m

from conftest import PROJECT_ID, SECRET_ID, SECRET_KEY


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


def sign_request(method, path, *, body=b"", query="", headers=None, ak=SECRET_ID, sk=SECRET_KEY,
                 date=None, signed=None, host="127.0.0.1"):
    """Headers of a request signed with SDK-HMAC-SHA256 as the SDK signs it (HUAWEI-WIRE.md), for
    requests the SDK cannot be made to send. `signed` names the headers to sign (default: all)."""
    import datetime
    import hashlib
    import hmac
    from urllib.parse import quote, unquote

    headers = dict(headers or {})
    headers.setdefault("host", host)
    headers.setdefault("content-type", "application/json")
    headers.setdefault("x-sdk-date", date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    lower = {k.lower(): v for k, v in headers.items()}
    names = sorted(signed if signed is not None else lower)
    segments = [quote(unquote(s), safe="-_.~") for s in path.split("/")]
    uri = "/".join(segments)
    if not uri.endswith("/"):
        uri += "/"
    pairs = sorted((unquote(k), unquote(v)) for k, _, v in (p.partition("=") for p in query.split("&") if p))
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
    canonical_headers = "".join(f"{n}:{lower[n].strip()}\n" for n in names)
    canonical = "\n".join([method, uri, canonical_query, canonical_headers, ";".join(names),
                           hashlib.sha256(body).hexdigest()])
    to_sign = "\n".join(["SDK-HMAC-SHA256", lower["x-sdk-date"], hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = f"SDK-HMAC-SHA256 Access={ak}, SignedHeaders={';'.join(names)}, Signature={signature}"
    return headers
