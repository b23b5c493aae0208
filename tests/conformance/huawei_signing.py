"""SDK-HMAC-SHA256 signing as huaweicloudsdkcore signs (HUAWEI-WIRE.md), with no dependency on
the SDK, for requests the SDK cannot be made to send and for the benchmarks."""

import datetime
import hashlib
import hmac
from urllib.parse import quote, unquote


def sign_request(method, path, *, body=b"", query="", headers=None, ak, sk,
                 date=None, signed=None, host="127.0.0.1", payload=None):
    """Headers of a request signed with SDK-HMAC-SHA256 as the SDK signs it (HUAWEI-WIRE.md), for
    requests the SDK cannot be made to send. `signed` names the headers to sign (default: all);
    `payload` is signed in place of the body's hash (as beside `X-Sdk-Content-Sha256`)."""
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
                           payload or hashlib.sha256(body).hexdigest()])
    to_sign = "\n".join(["SDK-HMAC-SHA256", lower["x-sdk-date"], hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = f"SDK-HMAC-SHA256 Access={ak}, SignedHeaders={';'.join(names)}, Signature={signature}"
    return headers
