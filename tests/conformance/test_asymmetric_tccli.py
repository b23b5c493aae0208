"""The new actions through tccli, the vendor's CLI, as an operator scripts them: an SM2 signing
key's public key, a signature verified by gmssl and by the server, and a post-quantum round trip."""

import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import SECRET_ID, SECRET_KEY
from gm import Sm2Key

TCCLI = str(Path(sys.executable).parent / "tccli")


def tccli(server, action, **params):
    args = [TCCLI, "kms", action, "--secretId", SECRET_ID, "--secretKey", SECRET_KEY,
            "--region", "ap-guangzhou", "--endpoint", server.url]
    for name, value in params.items():
        args += [f"--{name}", value]
    with tempfile.TemporaryDirectory(prefix="tccli-home-") as home:
        out = subprocess.run(args, env=dict(os.environ, HOME=home), capture_output=True,
                             text=True, timeout=60)
    assert out.returncode == 0, (out.stdout, out.stderr)
    return json.loads(out.stdout)


def test_sm2_signing_key_through_tccli(server):
    created = tccli(server, "CreateKey", Alias="tccli-sm2-sign", KeyUsage="ASYMMETRIC_SIGN_VERIFY_SM2")
    assert created["KeyUsage"] == "ASYMMETRIC_SIGN_VERIFY_SM2"
    key_id = created["KeyId"]
    public = tccli(server, "GetPublicKey", KeyId=key_id)
    assert public["KeyId"] == key_id
    der = base64.b64decode(public["PublicKey"])
    message = b"signed from the command line"
    signed = tccli(server, "SignByAsymmetricKey", KeyId=key_id, Algorithm="SM2DSA",
                   Message=base64.b64encode(message).decode())
    signature = base64.b64decode(signed["Signature"])
    assert Sm2Key.from_spki(der).verify(signature, message)
    verified = tccli(server, "VerifyByAsymmetricKey", KeyId=key_id, Algorithm="SM2DSA",
                     Message=base64.b64encode(message).decode(), SignatureValue=signed["Signature"])
    assert verified["SignatureValid"] is True


def test_post_quantum_round_trip_through_tccli(server):
    key_id = tccli(server, "CreateKey", Alias="tccli-kyber",
                   KeyUsage="ASYMMETRIC_Encrypt_Decrypt_Kyber_AES")["KeyId"]
    sealed = tccli(server, "PostQuantumCryptoEncrypt", KeyId=key_id,
                   PlainText=base64.b64encode(b"quantum-safe").decode())
    assert sealed["KeyId"] == key_id
    opened = tccli(server, "PostQuantumCryptoDecrypt", CiphertextBlob=sealed["CiphertextBlob"])
    assert (opened["KeyId"], base64.b64decode(opened["PlainText"])) == (key_id, b"quantum-safe")
