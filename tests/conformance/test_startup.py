"""Start-up: every setting is checked before the data dir is touched, a failed start leaves
nothing that breaks the next one, the root key and the store belong together, one kmsd holds a
data dir, and the start-up log says where everything is."""

import base64
import json
import os
import re
import socket
import stat
import subprocess

import pytest

from conftest import (KMSD_BIN, PROJECT_ID, SECRET_ID, SECRET_KEY, KmsdProcess, b64, call, create_key,
                      expect_error, free_port, make_client)

ROOT_ENV_UNSET = {"KMSD_ROOT_SECRET_ID": None, "KMSD_ROOT_SECRET_KEY": None, "KMSD_ROOT_PROJECT_ID": None}
KEY_FILE_MAGIC = b"KMSROOT1"


def server_env(overrides=None):
    """The environment KmsdProcess gives a server, with `overrides` (None removes a variable)."""
    env = dict(os.environ, KMSD_ROOT_SECRET_ID=SECRET_ID, KMSD_ROOT_SECRET_KEY=SECRET_KEY,
               KMSD_ROOT_PROJECT_ID=PROJECT_ID, KMSD_LOG="info")
    env.update(overrides or {})
    return {k: v for k, v in env.items() if v is not None}


def refused_start(data_dir, *args, env=None, listen=None):
    """Runs `kmsd serve` that must refuse to start; returns what it printed."""
    cmd = [KMSD_BIN, "serve", "--listen", listen or f"127.0.0.1:{free_port()}", "--data-dir", str(data_dir),
           *args]
    out = subprocess.run(cmd, env=server_env(env), capture_output=True, text=True, timeout=20)
    assert out.returncode != 0, f"kmsd started: {out.stderr}"
    assert "panicked" not in out.stderr, out.stderr
    return out.stderr


def serving_line(proc, offset=0):
    lines = [line for line in proc.log_path.read_bytes()[offset:].decode(errors="replace").splitlines()
             if "kmsd is serving" in line]
    assert len(lines) == 1, lines
    return lines[0]


def creds_client(proc, creds):
    return make_client(proc.endpoint, secret_id=creds["secret_id"], secret_key=creds["secret_key"])


def decrypt(kms, blob):
    return base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext)


def write_key_file(path):
    path.write_bytes(KEY_FILE_MAGIC + os.urandom(32))
    path.chmod(0o600)


# ---- the start-up log ----

def test_start_up_log_names_the_data_dir_key_credentials_regions_and_dialects(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    proc = KmsdProcess(data_dir="kms-data", env=ROOT_ENV_UNSET,
                       extra_args=["--regions", " ap-shanghai, ap-guangzhou,ap-shanghai,"])
    try:
        proc.start()
        data_dir = tmp_path / "kms-data"
        line = serving_line(proc)
        assert f"listen={proc.endpoint}" in line, line
        assert f"data_dir={data_dir} " in line, "the data dir is named by its absolute path: " + line
        assert f"root_key_file={data_dir / 'root.key'} " in line, line
        assert f"root_credentials={data_dir / 'root-credentials.json'} " in line, line
        assert "regions=ap-shanghai,ap-guangzhou " in line, "regions trimmed and de-duplicated: " + line
        assert line.rstrip().endswith("dialects=tencent,huawei"), line

        creds = json.loads((data_dir / "root-credentials.json").read_text())
        kms = creds_client(proc, creds)
        assert call(kms, "GetRegions").Regions == ["ap-shanghai", "ap-guangzhou"]
        # the first configured region is the root project's
        assert call(make_client(proc.endpoint, region="ap-shanghai", secret_id=creds["secret_id"],
                                secret_key=creds["secret_key"]), "ListKeys").TotalCount == 0
        assert creds["secret_key"] not in proc.log_path.read_text(errors="replace")
    finally:
        proc.cleanup()


def test_later_starts_say_the_root_variables_are_ignored(fresh_server):
    fresh_server.start()
    assert "are ignored" not in fresh_server.log_path.read_text(errors="replace")
    assert fresh_server.stop() == 0
    offset = fresh_server.log_path.stat().st_size
    fresh_server.start()
    text = fresh_server.log_path.read_bytes()[offset:].decode(errors="replace")
    assert "the store already has its root account; KMSD_ROOT_SECRET_ID, KMSD_ROOT_SECRET_KEY and " \
           "KMSD_ROOT_PROJECT_ID are ignored" in text, text
    assert "root_credentials=given in KMSD_ROOT_SECRET_ID/KMSD_ROOT_SECRET_KEY at the first start; no file" \
        in serving_line(fresh_server, offset)
    assert SECRET_KEY not in fresh_server.log_path.read_text(errors="replace")


# ---- failed starts leave nothing behind ----

@pytest.mark.parametrize("env, args, message", [
    ({"KMSD_ROOT_PROJECT_ID": "not-a-project"}, [], "KMSD_ROOT_PROJECT_ID must be 32 lowercase hex characters"),
    ({"KMSD_ROOT_SECRET_KEY": None}, [], "KMSD_ROOT_SECRET_ID is set but KMSD_ROOT_SECRET_KEY is not"),
    ({"KMSD_ROOT_SECRET_ID": None}, [], "KMSD_ROOT_SECRET_KEY is set but KMSD_ROOT_SECRET_ID is not"),
    ({}, ["--regions", " , "], "at least one region must be configured"),
    ({}, ["--regions", "ap-guangzhou,AP Shanghai"], '"AP Shanghai" is not a region name'),
    ({}, ["--root-key-file", "/nonexistent-kmsd-dir/root.key"], "/nonexistent-kmsd-dir does not exist"),
])
def test_a_bad_setting_is_refused_before_the_data_dir_is_made(tmp_path, env, args, message):
    data_dir = tmp_path / "data"
    output = refused_start(data_dir, *args, env=env)
    assert message in output, output
    assert not data_dir.exists(), "nothing was written"


def test_a_busy_port_fails_before_the_data_dir_is_made_then_a_good_start_works(tmp_path):
    data_dir = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = "127.0.0.1:%d" % busy.getsockname()[1]
        output = refused_start(data_dir, env=ROOT_ENV_UNSET, listen=address)
    assert f"listening on {address}" in output, output
    assert not data_dir.exists()

    # and a bad project id, then a good start over the same path
    output = refused_start(data_dir, env=dict(ROOT_ENV_UNSET, KMSD_ROOT_PROJECT_ID="0" * 31))
    assert "KMSD_ROOT_PROJECT_ID" in output
    assert not data_dir.exists()
    proc = KmsdProcess(data_dir=data_dir, env=ROOT_ENV_UNSET)
    try:
        proc.start()
        creds = json.loads((data_dir / "root-credentials.json").read_text())
        assert create_key(creds_client(proc, creds)).KeyState == "Enabled"
    finally:
        proc.cleanup()


# ---- the credentials file ----

def test_a_stale_credentials_file_does_not_break_the_first_start(tmp_path):
    """A credentials file left by a start that failed before committing the account describes an
    account that never existed: the first real start replaces it, and its credential works."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    path = data_dir / "root-credentials.json"
    stale = {"secret_id": "AKIDstale00000000000000000000000000", "secret_key": "staleSecretKey000000000000000000",
             "project_id": "f" * 32}
    path.write_text(json.dumps(stale))
    path.chmod(0o644)
    proc = KmsdProcess(data_dir=data_dir, env=ROOT_ENV_UNSET)
    try:
        proc.start()
        creds = json.loads(path.read_text())
        assert creds["secret_id"] != stale["secret_id"] and creds["secret_key"] != stale["secret_key"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        kms = creds_client(proc, creds)
        key = create_key(kms, Description="after a stale file")
        blob = call(kms, "Encrypt", KeyId=key.KeyId, Plaintext=b64(b"fresh")).CiphertextBlob
        assert decrypt(kms, blob) == b"fresh"
        expect_error("AuthFailure.SecretIdNotFound", creds_client(proc, stale), "ListKeys")
        assert "replacing a credentials file left by an earlier start" in proc.log_path.read_text()
        assert proc.stop() == 0

        # from now on the file is the store's own: a restart leaves it alone
        before = path.read_bytes()
        proc.start()
        assert path.read_bytes() == before
        assert decrypt(creds_client(proc, creds), blob) == b"fresh"
    finally:
        proc.cleanup()


def test_a_secret_key_from_the_environment_is_not_written_to_the_file(tmp_path):
    """Only what is not given is generated and written: here the project id, not the pair."""
    proc = KmsdProcess(data_dir=tmp_path / "data", env={"KMSD_ROOT_PROJECT_ID": None})
    try:
        kms = proc.start().client()
        creds = json.loads((proc.data_dir / "root-credentials.json").read_text())
        assert creds["secret_id"] == SECRET_ID and "secret_key" not in creds
        assert re.fullmatch(r"[0-9a-f]{32}", creds["project_id"]) and creds["project_id"] != PROJECT_ID
        assert create_key(kms).KeyState == "Enabled"
        assert SECRET_KEY not in (proc.data_dir / "root-credentials.json").read_text()
    finally:
        proc.cleanup()


# ---- the root key ----

def test_a_store_without_its_root_key_is_refused_and_no_key_is_made(fresh_server, tmp_path):
    kms = fresh_server.start().client()
    key = create_key(kms)
    blob = call(kms, "Encrypt", KeyId=key.KeyId, Plaintext=b64(b"keep me")).CiphertextBlob
    assert fresh_server.stop() == 0
    key_file = fresh_server.data_dir / "root.key"
    backup = tmp_path / "root.key.backup"
    key_file.rename(backup)

    output = refused_start(fresh_server.data_dir)
    store = fresh_server.data_dir / "kms.redb"
    assert f"the store {store} exists but its root key file {key_file} does not" in output, output
    assert "--root-key-file" in output
    assert "sealed data failed authentication" not in output
    assert not key_file.exists(), "no new key was made for the existing store"

    # a key that is not this store's own is named as such, and left as it was
    write_key_file(key_file)
    wrong = key_file.read_bytes()
    output = refused_start(fresh_server.data_dir)
    assert f"the root key file {key_file} does not open the store {store}" in output, output
    assert key_file.read_bytes() == wrong

    # with its own key back, everything is there
    backup.replace(key_file)
    kms = fresh_server.start().client()
    assert decrypt(kms, blob) == b"keep me"


def test_root_key_file_outside_the_data_dir(tmp_path):
    data_dir, keys = tmp_path / "data", tmp_path / "keys"
    keys.mkdir(mode=0o700)
    key_file = keys / "root.key"
    proc = KmsdProcess(data_dir=data_dir, extra_args=["--root-key-file", str(key_file)])
    try:
        kms = proc.start().client()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert f"root_key_file={key_file} " in serving_line(proc)
        key = create_key(kms)
        blob = call(kms, "Encrypt", KeyId=key.KeyId, Plaintext=b64(b"apart")).CiphertextBlob
        assert proc.stop() == 0
        root = key_file.read_bytes()[len(KEY_FILE_MAGIC):]
        assert not (data_dir / "root.key").exists()
        for path in data_dir.rglob("*"):
            if path.is_file():
                assert root not in path.read_bytes(), f"{path} carries the root key"

        kms = proc.start().client()
        assert decrypt(kms, blob) == b"apart"
        assert proc.stop() == 0
        assert key_file.read_bytes()[len(KEY_FILE_MAGIC):] == root

        # the same data dir without the flag looks for DIR/root.key: refused, and none is made
        output = refused_start(data_dir)
        assert f"its root key file {data_dir / 'root.key'} does not" in output, output
        assert not (data_dir / "root.key").exists()
    finally:
        proc.cleanup()


# ---- one kmsd per data dir ----

def test_a_second_server_on_the_same_data_dir_names_the_first(fresh_server):
    kms = fresh_server.start().client()
    output = refused_start(fresh_server.data_dir)
    expected = (f"another kmsd (pid {fresh_server.proc.pid}, listening on {fresh_server.endpoint}) "
                f"holds the data directory {fresh_server.data_dir}")
    assert expected in output, output
    assert call(kms, "ListKeys").TotalCount == 0, "the first one still serves"
    assert fresh_server.stop() == 0
    # once it is gone the directory is free again, also after a kill -9
    fresh_server.start()
    fresh_server.kill()
    assert call(fresh_server.start().client(), "ListKeys").TotalCount == 0
    assert re.search(r"pid \d+, listening on ", (fresh_server.data_dir / "kmsd.lock").read_text())
