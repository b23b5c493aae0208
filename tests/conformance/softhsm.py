"""SoftHSM2 tokens made for a test module: a temporary token directory that SOFTHSM2_CONF names,
a token made with softhsm2-util and AES-256 keys made with pkcs11-tool (OpenSC)."""

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

MODULE = os.environ.get("KMSD_TEST_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
TOKEN = "kmsd-conformance"
PIN = "conformance-pin-4321"


@contextmanager
def softhsm_token(aes_keys=()):
    """Yields the environment that names the token directory, with `TOKEN` and its keys made."""
    assert Path(MODULE).exists(), f"the SoftHSM2 module {MODULE} is missing: install softhsm2"
    directory = Path(tempfile.mkdtemp(prefix="kmsd-softhsm-"))
    try:
        (directory / "tokens").mkdir()
        conf = directory / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n")
        env = {"SOFTHSM2_CONF": str(conf)}
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN,
                        "--so-pin", "so-pin-8765"], env=dict(os.environ, **env), check=True,
                       capture_output=True)
        for label in aes_keys:
            pkcs11_tool(env, "--keygen", "--key-type", "AES:32", "--label", label)
        yield env
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def pkcs11_tool(env, *args):
    """Runs pkcs11-tool logged in to `TOKEN`; returns what it printed."""
    out = subprocess.run(["pkcs11-tool", "--module", MODULE, "--token-label", TOKEN, "--login", "--pin", PIN,
                          *args], env=dict(os.environ, **env), check=True, capture_output=True, text=True)
    return out.stdout


def pin_file(directory, pin=PIN):
    path = Path(directory) / "pkcs11.pin"
    path.write_text(pin + "\n")
    path.chmod(0o600)
    return path
