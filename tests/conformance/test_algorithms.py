"""ListAlgorithms exactly as the server answers it, through the SDK and through tccli."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import SECRET_ID, SECRET_KEY, call

TCCLI = str(Path(sys.executable).parent / "tccli")
SYMMETRIC = [{"KeyUsage": "ENCRYPT_DECRYPT", "Algorithm": "AES_256"}]
ASYMMETRIC = [
    {"KeyUsage": "ASYMMETRIC_DECRYPT_RSA_2048", "Algorithm": "RSA_2048"},
    {"KeyUsage": "ASYMMETRIC_DECRYPT_SM2", "Algorithm": "SM2"},
    {"KeyUsage": "ASYMMETRIC_Encrypt_Decrypt_Kyber_AES", "Algorithm": "Kyber_AES"},
]
SIGN_VERIFY = [
    {"KeyUsage": "ASYMMETRIC_SIGN_VERIFY_SM2", "Algorithm": "SM2"},
    {"KeyUsage": "ASYMMETRIC_SIGN_VERIFY_RSA_2048", "Algorithm": "RSA_2048"},
    {"KeyUsage": "ASYMMETRIC_SIGN_VERIFY_ECC", "Algorithm": "ECC"},
    {"KeyUsage": "ASYMMETRIC_SIGN_VERIFY_ECDSA384", "Algorithm": "ECDSA384_SHA384"},
    {"KeyUsage": "ASYMMETRIC_SIGN_VERIFY_RSA_3072", "Algorithm": "RSA_3072"},
    {"KeyUsage": "ASYMMETRIC_SIGN_VERIFY_DILITHIUM", "Algorithm": "Dilithium"},
]


def as_dicts(infos):
    return [{"KeyUsage": i.KeyUsage, "Algorithm": i.Algorithm} for i in infos]


def test_list_algorithms_through_the_sdk(kms):
    r = call(kms, "ListAlgorithms")
    assert r.RequestId
    assert as_dicts(r.SymmetricAlgorithms) == SYMMETRIC
    assert as_dicts(r.AsymmetricAlgorithms) == ASYMMETRIC
    assert as_dicts(r.AsymmetricSignVerifyAlgorithms) == SIGN_VERIFY


def test_listed_usages_are_the_ones_create_key_accepts(kms):
    r = call(kms, "ListAlgorithms")
    usages = [i.KeyUsage for i in r.SymmetricAlgorithms + r.AsymmetricAlgorithms + r.AsymmetricSignVerifyAlgorithms]
    assert len(usages) == len(set(usages)) == 10
    for usage in usages:
        created = call(kms, "CreateKey", Alias=f"alg-{usage.lower().replace('_', '-')}", KeyUsage=usage)
        assert created.KeyUsage == usage


def test_list_algorithms_is_the_same_in_every_region_without_national_crypto(server):
    expected = (SYMMETRIC, ASYMMETRIC, SIGN_VERIFY)
    for region in ("ap-shanghai", "ap-beijing"):
        r = call(server.client(region=region), "ListAlgorithms")
        got = (as_dicts(r.SymmetricAlgorithms), as_dicts(r.AsymmetricAlgorithms),
               as_dicts(r.AsymmetricSignVerifyAlgorithms))
        assert got == expected, region


def test_list_algorithms_through_tccli(server):
    with tempfile.TemporaryDirectory(prefix="tccli-home-") as home:
        out = subprocess.run(
            [TCCLI, "kms", "ListAlgorithms", "--secretId", SECRET_ID, "--secretKey", SECRET_KEY,
             "--region", "ap-guangzhou", "--endpoint", server.url],
            env=dict(os.environ, HOME=home), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, (out.stdout, out.stderr)
    r = json.loads(out.stdout)
    assert r["SymmetricAlgorithms"] == SYMMETRIC
    assert r["AsymmetricAlgorithms"] == ASYMMETRIC
    assert r["AsymmetricSignVerifyAlgorithms"] == SIGN_VERIFY
    assert r["RequestId"]
