"""HTTPS on the one listener: the official SDK and tccli over TLS 1.2 and 1.3 against a test CA
made here, a certificate replaced on disk and served without a restart, plain HTTP refused on the
TLS port, and the warning for plain HTTP on a non-loopback address."""

import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.kms.v20190118 import kms_client

from conftest import (KMSD_BIN, REGION, SECRET_ID, SECRET_KEY, KmsdProcess, b64, call, create_key,
                      free_port)

TCCLI = str(Path(sys.executable).parent / "tccli")


class ThrowawayCa:
    """A throwaway CA that issues server certificates for 127.0.0.1 and localhost."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kmsd conformance test CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = directory / "ca.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name):
        """A server certificate and its key, as PEM bytes, and the certificate's serial number."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem, serial


class TlsKmsd(KmsdProcess):
    """A kmsd serving HTTPS with a certificate from `ca`."""

    def __init__(self, ca: ThrowawayCa, **kwargs):
        self.ca = ca
        self.cert_path = ca.directory / "server.crt"
        self.key_path = ca.directory / "server.key"
        cert, key, self.serial = ca.issue("kmsd first")
        self.key_path.write_bytes(key)
        self.cert_path.write_bytes(cert)
        super().__init__(extra_args=["--tls-cert", str(self.cert_path), "--tls-key", str(self.key_path)],
                         **kwargs)

    @property
    def url(self):
        return f"https://{self.endpoint}"

    def start(self):
        # The readiness probe in KmsdProcess.start uses requests, which reads this variable.
        previous = os.environ.get("REQUESTS_CA_BUNDLE")
        os.environ["REQUESTS_CA_BUNDLE"] = str(self.ca.bundle)
        try:
            return super().start()
        finally:
            if previous is None:
                del os.environ["REQUESTS_CA_BUNDLE"]
            else:
                os.environ["REQUESTS_CA_BUNDLE"] = previous

    def https_client(self, trust_test_ca=True):
        """An SDK client over HTTPS; without the test CA it trusts only the SDK's default bundle."""
        http = HttpProfile(endpoint=self.endpoint, protocol="https",
                           certification=str(self.ca.bundle) if trust_test_ca else None)
        return kms_client.KmsClient(credential.Credential(SECRET_ID, SECRET_KEY), REGION,
                                    ClientProfile(httpProfile=http))


@pytest.fixture(scope="module")
def ca():
    with tempfile.TemporaryDirectory(prefix="kmsd-test-ca-") as d:
        yield ThrowawayCa(Path(d))


@pytest.fixture(scope="module")
def tls_server(ca):
    proc = TlsKmsd(ca).start()
    yield proc
    proc.cleanup()


def handshake(server, version=None):
    """Connects with Python's own TLS (OpenSSL), trusting only the test CA, and asks for /healthz.
    Returns the negotiated version, the server certificate's serial number and the answer."""
    context = ssl.create_default_context(cafile=str(server.ca.bundle))
    if version is not None:
        context.minimum_version = context.maximum_version = version
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := tls.recv(4096):
                answer += chunk
            return tls.version(), x509.load_der_x509_certificate(der).serial_number, answer


def test_sdk_round_trip_over_https(tls_server):
    kms = tls_server.https_client()
    key_id = create_key(kms).KeyId
    blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"over TLS")).CiphertextBlob
    assert call(kms, "Decrypt", CiphertextBlob=blob).Plaintext == b64(b"over TLS")


def test_sdk_refuses_a_server_it_does_not_trust(tls_server):
    """The SDK's default trust store (certifi) does not hold the test CA: proof the check is real."""
    with pytest.raises(TencentCloudSDKException) as info:
        call(tls_server.https_client(trust_test_ca=False), "ListKeys")
    assert info.value.code == "ClientNetworkError"
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.message


def test_tccli_over_https(tls_server, tmp_path):
    # tccli verifies against certifi's bundle and has no CA option; a certifi on PYTHONPATH that
    # names the test CA stands in for adding the CA to that bundle.
    shim = tmp_path / "shim" / "certifi"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(
        f"def where():\n    return {str(tls_server.ca.bundle)!r}\n\n\n"
        f"def contents():\n    return open(where()).read()\n")
    env = dict(os.environ, HOME=str(tmp_path), PYTHONPATH=str(shim.parent))
    cmd = [TCCLI, "kms", "CreateKey", "--Alias", f"cli-tls-{os.getpid()}", "--secretId", SECRET_ID,
           "--secretKey", SECRET_KEY, "--region", REGION, "--endpoint", tls_server.url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, (out.stdout, out.stderr)
    key_id = json.loads(out.stdout)["KeyId"]
    described = call(tls_server.https_client(), "DescribeKey", KeyId=key_id)
    assert described.KeyMetadata.Alias == f"cli-tls-{os.getpid()}"


@pytest.mark.parametrize("version,name", [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                                          (ssl.TLSVersion.TLSv1_3, "TLSv1.3")])
def test_tls_1_2_and_1_3(tls_server, version, name):
    negotiated, _, answer = handshake(tls_server, version)
    assert negotiated == name
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\nok"), answer


def test_plain_http_to_the_tls_port_fails_and_the_server_keeps_serving(tls_server):
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{tls_server.endpoint}/healthz", timeout=5)
    # A client that connects and sends nothing does not hold up others.
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5):
        assert handshake(tls_server)[0] == "TLSv1.3"
        assert call(tls_server.https_client(), "GetServiceStatus").ServiceEnabled is True


def test_a_replaced_certificate_is_served_without_a_restart(ca):
    server = TlsKmsd(ca).start()
    try:
        pid = server.proc.pid
        assert handshake(server)[1] == server.serial
        cert, key, serial = ca.issue("kmsd second")
        # Written in place, key first: the server may see a mismatched pair for a moment and
        # keeps serving the first certificate until the pair is whole.
        server.key_path.write_bytes(key)
        server.cert_path.write_bytes(cert)
        deadline = time.time() + 5
        while handshake(server)[1] != serial:
            assert time.time() < deadline, "the new certificate was not picked up"
            time.sleep(0.1)
        assert server.proc.pid == pid and server.proc.poll() is None
        assert call(server.https_client(), "GetServiceStatus").ServiceEnabled is True

        # A broken replacement keeps the current certificate.
        server.cert_path.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n")
        deadline = time.time() + 5
        while "keeping the previous certificate" not in server.log_path.read_text():
            assert time.time() < deadline, "the broken replacement was not noticed"
            time.sleep(0.1)
        assert handshake(server)[1] == serial
        assert server.stop() == 0, "SIGTERM stops an HTTPS server cleanly"
    finally:
        server.cleanup()


def start_fails(tmp_path, *tls_args):
    out = subprocess.run([KMSD_BIN, "serve", "--listen", f"127.0.0.1:{free_port()}",
                          "--data-dir", str(tmp_path / "data"), *tls_args],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert not (tmp_path / "data").exists(), "nothing is written before the settings are checked"
    return out.stderr


def test_half_a_tls_setting_or_an_unusable_pair_is_refused_at_start(tmp_path, ca):
    cert = tmp_path / "c.pem"
    assert "--tls-cert and --tls-key must be given together" in start_fails(tmp_path, "--tls-cert", str(cert))
    first_cert, _, _ = ca.issue("mismatch")
    _, other_key, _ = ca.issue("mismatch")
    cert.write_bytes(first_cert)
    (tmp_path / "k.pem").write_bytes(other_key)
    stderr = start_fails(tmp_path, "--tls-cert", str(cert), "--tls-key", str(tmp_path / "k.pem"))
    assert "does not serve the certificate" in stderr


class AnyAddressKmsd(KmsdProcess):
    @property
    def endpoint(self):
        return f"0.0.0.0:{self.port}"


def test_plain_http_warns_only_off_loopback():
    loopback = KmsdProcess().start()
    everywhere = AnyAddressKmsd().start()
    try:
        warning = "serving plain HTTP on a non-loopback address"
        assert warning in everywhere.log_path.read_text()
        assert warning not in loopback.log_path.read_text()
    finally:
        loopback.cleanup()
        everywhere.cleanup()
