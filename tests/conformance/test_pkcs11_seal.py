"""The PKCS#11 seal (`--seal pkcs11`) against a SoftHSM2 token made for this module: the root
keyring is wrapped by an AES key inside the token, both vendors' SDKs work across a restart, and
every way the HSM can be unreachable at start is refused in one line that names what is wrong.
A backup of an HSM-sealed server restores with the token's key (and with no other key),
`kmsd admin --data-dir` and `kmsd store copy` open an HSM-sealed data dir with the seal's flags,
and two nodes over one PostgreSQL database sealed by the same token key share keys and a root
key rotation."""

import base64
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from huaweicloudsdkkms.v2 import model as m

from conftest import KMSD_BIN, KmsdProcess, b64, call, create_key
from huawei import huawei_client, new_key
from softhsm import MODULE, PIN, TOKEN, pin_file, softhsm_token
from test_admin import admin
from test_startup import refused_start

KEY = "kmsd-seal-key"
OTHER_KEY = "kmsd-other-key"
KEYRING_MAGIC = b"KMSRING1"


@pytest.fixture(scope="module")
def softhsm():
    """A token with two AES-256 keys for the servers this module starts."""
    with softhsm_token(aes_keys=(KEY, OTHER_KEY)) as env:
        yield env


def seal_args(key=KEY, token=TOKEN, module=MODULE):
    return ["--seal", "pkcs11", "--pkcs11-module", module, "--pkcs11-token-label", token,
            "--pkcs11-key-label", key]


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="kmsd-pkcs11-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def hsm_server(softhsm, workdir, key=KEY):
    """A server sealed by the token, its PIN in a file outside the data dir."""
    return KmsdProcess(data_dir=workdir / "data",
                       extra_args=seal_args(key) + ["--pkcs11-pin-file", str(pin_file(workdir))],
                       env=softhsm)


def encrypt_data(hw, key_id, text):
    return hw.encrypt_data(m.EncryptDataRequest(body=m.EncryptDataRequestBody(
        key_id=key_id, plain_text=text))).cipher_text


def decrypt_data(hw, cipher_text):
    return hw.decrypt_data(m.DecryptDataRequest(body=m.DecryptDataRequestBody(
        cipher_text=cipher_text))).plain_text


def test_both_sdks_work_across_a_restart_and_the_keyring_is_stored_wrapped(softhsm, workdir):
    server = hsm_server(softhsm, workdir)
    try:
        server.start()
        kms = server.client()
        key_id = create_key(kms).KeyId
        blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"tencent secret")).CiphertextBlob
        assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"tencent secret"
        hw = huawei_client(server.endpoint)
        hw_key = new_key(hw)
        cipher = encrypt_data(hw, hw_key, "huawei secret")
        assert decrypt_data(hw, cipher) == "huawei secret"
        log = server.log_path.read_text(errors="replace")
        assert f'seal=the PKCS#11 key "{KEY}" in token "{TOKEN}"' in log, log
        assert "root_key_file=none, sealed by an HSM" in log, log
        assert server.stop() == 0

        store = (server.data_dir / "kms.redb").read_bytes()
        assert KEYRING_MAGIC not in store, "the keyring is stored only wrapped by the token's key"
        assert b"KP11" in store, "the wrapped keyring is in the store"
        assert not (server.data_dir / "root.key").exists(), "the HSM seal makes no key file"
        assert PIN not in log

        # The PIN from the environment this time.
        server.extra_args = seal_args()
        server.extra_env["KMSD_PKCS11_PIN"] = PIN
        server.start()
        kms = server.client()
        assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"tencent secret"
        assert decrypt_data(huawei_client(server.endpoint), cipher) == "huawei secret"
    finally:
        server.cleanup()


def assert_one_line(output, expected):
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {expected}"], output
    assert PIN not in output


@pytest.mark.parametrize("change, expected", [
    ({"pin": "wrong-pin"}, f'--seal pkcs11: cannot log in to the PKCS#11 token "{TOKEN}": the PIN is incorrect'),
    ({"key": "no-such-key"}, f'--seal pkcs11: no AES key is labelled "no-such-key" in the PKCS#11 token '
                              f'"{TOKEN}"; the seal\'s key must exist there'),
    ({"token": "no-such-token"}, f'--seal pkcs11: no PKCS#11 token is labelled "no-such-token" in the module '
                                  f'{MODULE} (its tokens are "{TOKEN}")'),
    ({"module": "/nonexistent/libpkcs11.so"}, "--seal pkcs11: cannot load the PKCS#11 module "
                                               "/nonexistent/libpkcs11.so: "),
])
def test_an_unreachable_hsm_is_refused_at_start_and_no_store_is_made(softhsm, workdir, change, expected):
    pin = change.pop("pin", PIN)
    args = seal_args(**change) + ["--pkcs11-pin-file", str(pin_file(workdir, pin))]
    output = refused_start(workdir / "data", *args, env=softhsm)
    if expected.endswith(": "):
        line = next(line for line in output.splitlines() if line.startswith("error: "))
        assert line.startswith(f"error: {expected}") and len(line) > len(expected) + 7, output
        assert PIN not in output
    else:
        assert_one_line(output, expected)
    assert not (workdir / "data" / "kms.redb").exists(), "a refused start makes no store"


def test_seal_settings_are_checked_before_anything(softhsm, workdir):
    output = refused_start(workdir / "data", *seal_args(), env=softhsm)
    assert_one_line(output, "--seal pkcs11 needs the token's PIN: --pkcs11-pin-file FILE or KMSD_PKCS11_PIN")
    output = refused_start(workdir / "data", "--seal", "pkcs11", "--pkcs11-module", MODULE,
                           "--pkcs11-key-label", KEY, env=dict(softhsm, KMSD_PKCS11_PIN=PIN))
    assert_one_line(output, "--seal pkcs11 needs --pkcs11-token-label LABEL")
    output = refused_start(workdir / "data", "--pkcs11-key-label", KEY, env=softhsm)
    assert_one_line(output, "--pkcs11-key-label belongs to the PKCS#11 seal: give --seal pkcs11 with it")
    loose = pin_file(workdir)
    loose.chmod(0o644)
    output = refused_start(workdir / "data", *seal_args(), "--pkcs11-pin-file", str(loose), env=softhsm)
    assert_one_line(output, f"PIN file {loose} is readable by other users; it must be mode 0600")
    assert not (workdir / "data").exists(), "settings are refused before the data dir is made"


def test_the_file_seal_does_not_open_an_hsm_store(softhsm, workdir):
    server = hsm_server(softhsm, workdir)
    try:
        server.start()
        create_key(server.client())
        assert server.stop() == 0
        store = server.data_dir / "kms.redb"
        key_file = server.data_dir / "root.key"

        output = refused_start(server.data_dir, env=softhsm)
        assert f"the store {store} exists but its root key file {key_file} does not" in output, output
        assert "a store sealed by an HSM with --seal pkcs11" in output.replace("\n", " "), output
        assert not key_file.exists()

        # A key file put there (another store's) does not open the HSM's keyring either.
        key_file.write_bytes(b"KMSROOT1" + os.urandom(32))
        key_file.chmod(0o600)
        output = refused_start(server.data_dir, env=softhsm)
        assert_one_line(output, f"the root key file {key_file} does not open the root keyring of the store "
                                f"{store}: it is not the key this store was sealed with. A store sealed by an "
                                "HSM starts with --seal pkcs11")
        key_file.unlink()

        # Another key of the same token does not open it.
        output = refused_start(server.data_dir, *seal_args(OTHER_KEY), "--pkcs11-pin-file",
                               str(pin_file(workdir)), env=softhsm)
        assert_one_line(output, f'the PKCS#11 key "{OTHER_KEY}" in token "{TOKEN}" does not open the root '
                                f"keyring of the store {store}: it is not the key this store was sealed with")

        server.start()
        assert call(server.client(), "ListKeys").TotalCount == 1
    finally:
        server.cleanup()


def test_the_hsm_seal_does_not_open_a_key_file_store(softhsm, workdir):
    server = KmsdProcess(data_dir=workdir / "data", env=softhsm)
    try:
        server.start()
        create_key(server.client())
        assert server.stop() == 0
        store = server.data_dir / "kms.redb"
        output = refused_start(server.data_dir, *seal_args(), "--pkcs11-pin-file", str(pin_file(workdir)),
                               env=softhsm)
        assert_one_line(output, f"the store {store} is sealed by a root key file, not by an HSM: start it "
                                "without --seal pkcs11 (with its --root-key-file)")
        server.start()
        assert call(server.client(), "ListKeys").TotalCount == 1
    finally:
        server.cleanup()


def kmsd_command(softhsm, *args):
    """Runs `kmsd ARGS` with the token's directory and none of the suite's KMSD_ variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSD_")}
    return subprocess.run([KMSD_BIN, *map(str, args)], capture_output=True, text=True, timeout=120,
                          env=dict(env, **softhsm))


def started_with_a_ciphertext(server, plaintext):
    """Starts `server`; answers a Tencent ciphertext of `plaintext` under a key made there."""
    server.start()
    kms = server.client()
    key_id = create_key(kms).KeyId
    return call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(plaintext)).CiphertextBlob


def decrypts(node, blob, plaintext):
    assert base64.b64decode(call(node.client(), "Decrypt", CiphertextBlob=blob).Plaintext) == plaintext


def test_a_backup_of_an_hsm_sealed_server_restores_with_the_token_key(softhsm, workdir):
    server = hsm_server(softhsm, workdir)
    backup = workdir / "hsm.kmsbackup"
    try:
        blob = started_with_a_ciphertext(server, b"kept by the token")
        hw = huawei_client(server.endpoint)
        hw_cipher = encrypt_data(hw, new_key(hw), "huawei, kept by the token")
        done = kmsd_command(softhsm, "backup", "--to", backup, "--endpoint", server.url,
                            "--token-file", server.data_dir / "admin-token")
        assert done.returncode == 0, done.stderr
    finally:
        server.cleanup()

    target = workdir / "restored"
    pin = ["--pkcs11-pin-file", pin_file(workdir)]
    refused = kmsd_command(softhsm, "restore", "--from", backup, "--data-dir", target)
    assert refused.returncode != 0 and "--seal pkcs11" in refused.stderr, refused.stderr
    refused = kmsd_command(softhsm, "restore", "--from", backup, "--data-dir", target,
                           *seal_args(OTHER_KEY), *pin)
    assert refused.returncode != 0, refused.stderr
    assert f'the PKCS#11 key "{OTHER_KEY}" in token "{TOKEN}" does not open the backup' in refused.stderr
    assert PIN not in refused.stdout + refused.stderr
    assert not target.exists(), "a refused restore writes nothing"

    done = kmsd_command(softhsm, "restore", "--from", backup, "--data-dir", target, *seal_args(), *pin)
    assert done.returncode == 0, done.stderr
    assert "--seal pkcs11" in done.stdout, done.stdout
    assert not (target / "root.key").exists(), "the HSM seal makes no key file"
    node = KmsdProcess(data_dir=target, extra_args=[*seal_args(), *map(str, pin)], env=softhsm)
    try:
        node.start()
        decrypts(node, blob, b"kept by the token")
        assert decrypt_data(huawei_client(node.endpoint), hw_cipher) == "huawei, kept by the token"
    finally:
        node.cleanup()


def test_admin_and_store_copy_open_an_hsm_sealed_data_dir(softhsm, workdir):
    server = hsm_server(softhsm, workdir)
    hsm = [*seal_args(), "--pkcs11-pin-file", str(pin_file(workdir))]
    target = workdir / "copy"
    try:
        blob = started_with_a_ciphertext(server, b"copied")
        assert server.stop() == 0

        refused = admin("account", "list", data_dir=server.data_dir, env=softhsm, check=False)
        assert refused.returncode != 0 and "--seal pkcs11" in refused.stderr, refused.stderr
        # The seal's flags follow the subcommand, as the other global flags may.
        account = admin("account", "create", *hsm, data_dir=server.data_dir, env=softhsm)

        refused = kmsd_command(softhsm, "store", "copy", "--from", server.data_dir, "--to", target)
        assert refused.returncode != 0 and "--seal pkcs11" in refused.stderr, refused.stderr
        done = kmsd_command(softhsm, "store", "copy", "--from", server.data_dir, "--to", target, *hsm)
        assert done.returncode == 0, done.stderr
        assert "--seal pkcs11" in done.stdout, done.stdout
        assert not (target / "root.key").exists(), "the HSM seal makes no key file"
    finally:
        server.cleanup()
    node = KmsdProcess(data_dir=target, extra_args=hsm, env=softhsm)
    try:
        node.start()
        decrypts(node, blob, b"copied")
        sub = node.client(secret_id=account["secret_id"], secret_key=account["secret_key"])
        assert call(sub, "ListKeys").TotalCount == 0
    finally:
        node.cleanup()


def test_two_nodes_over_postgresql_sealed_by_one_token_key_share_keys_and_a_rotation(softhsm, workdir):
    from test_cluster import Database
    from test_root_key_rotation import rotation_reaches_the_other_node
    db = Database()
    args = ["--store", db.url, *seal_args(), "--pkcs11-pin-file", str(pin_file(workdir))]
    a = KmsdProcess(data_dir=workdir / "a", extra_args=args, env=softhsm)
    b = KmsdProcess(data_dir=workdir / "b", extra_args=args, env=softhsm)
    try:
        a.start()
        b.start()
        rotation_reaches_the_other_node(a, b)
    finally:
        a.cleanup()
        b.cleanup()
        db.drop()
