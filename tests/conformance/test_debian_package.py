"""The Debian package (`scripts/build-deb.sh`), installed on this machine with dpkg: the binary,
its manual pages and completions, the kmsd system user, a private data dir, a config readable by
kmsd only; the installed binary started as kmsd with the installed config serves the Tencent
SDK; a purge removes the package but keeps the keys. Needs root and dpkg (skipped otherwise)."""

import base64
import grp
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import KMSD_BIN, ROOT, b64, call, free_port, make_client

DATA_DIR = Path("/var/lib/kmsd")
CONFIG = Path("/etc/kmsd/config.toml")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("dpkg-deb") or not shutil.which("dpkg-shlibdeps"),
    reason="installs a package: needs root, dpkg-deb and dpkg-shlibdeps")


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def mode_and_owner(path):
    st = path.stat()
    return stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    if Path("/usr/bin/kmsd").exists() or DATA_DIR.exists():
        pytest.skip("kmsd is installed on this machine already; not touching it")
    out = tmp_path_factory.mktemp("deb")
    package = run(str(ROOT / "scripts" / "build-deb.sh"), KMSD_BIN, str(out)).strip()
    run("dpkg", "-i", package)
    try:
        yield package
    finally:
        subprocess.run(["dpkg", "--purge", "kmsd"], capture_output=True)
        shutil.rmtree(DATA_DIR, ignore_errors=True)
        subprocess.run(["userdel", "kmsd"], capture_output=True)
        subprocess.run(["groupdel", "kmsd"], capture_output=True)


def test_the_package_installs_what_it_lists(installed):
    assert run("dpkg-query", "-W", "-f", "${Status}", "kmsd") == "install ok installed"
    built = run(KMSD_BIN, "--version").strip()
    assert run("/usr/bin/kmsd", "--version").strip() == built
    assert built.startswith("kmsd 0.1.0 (") and built.endswith(")")
    user = pwd.getpwnam("kmsd")
    assert (user.pw_dir, user.pw_shell) == ("/var/lib/kmsd", "/usr/sbin/nologin")
    assert user.pw_uid < 1000, "a system user"
    assert mode_and_owner(DATA_DIR) == (0o700, "kmsd", "kmsd")
    assert mode_and_owner(CONFIG) == (0o640, "root", "kmsd")
    assert mode_and_owner(CONFIG.parent) == (0o750, "root", "kmsd")
    unit = Path("/usr/lib/systemd/system/kmsd.service").read_text()
    for line in ["User=kmsd", "ExecStart=/usr/bin/kmsd serve --config /etc/kmsd/config.toml",
                 "StateDirectory=kmsd", "StateDirectoryMode=0700", "NoNewPrivileges=yes",
                 "ProtectSystem=strict"]:
        assert line in unit.splitlines(), line
    man = Path("/usr/share/man/man1")
    for page in ["kmsd.1.gz", "kmsd-serve.1.gz", "kmsd-backup.1.gz", "kmsd-admin.1.gz"]:
        assert (man / page).exists(), page
    assert "_kmsd()" in Path("/usr/share/bash-completion/completions/kmsd").read_text()
    assert Path("/usr/share/zsh/vendor-completions/_kmsd").read_text().startswith("#compdef kmsd")
    assert "complete -c kmsd" in Path("/usr/share/fish/vendor_completions.d/kmsd.fish").read_text()
    assert "Apache-2.0" in Path("/usr/share/doc/kmsd/copyright").read_text()
    assert "/etc/kmsd/config.toml" in run("dpkg-query", "-W", "-f", "${Conffiles}", "kmsd")
    # The package's checksums hold for what it installed.
    run("dpkg", "--verify", "kmsd")


def test_the_installed_binary_serves_with_the_installed_config(installed):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSD_")}
    # As systemd starts it: the kmsd user, the installed config, a private umask; only the
    # port differs, by flag, which overrides the file.
    proc = subprocess.Popen(
        ["setpriv", "--reuid=kmsd", "--regid=kmsd", "--init-groups", "--",
         "/usr/bin/kmsd", "serve", "--config", str(CONFIG), "--listen", f"127.0.0.1:{port}"],
        env=env, cwd="/", umask=0o077, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.time() < deadline, "the installed kmsd did not come up"
            time.sleep(0.1)
        creds = json.loads((DATA_DIR / "root-credentials.json").read_text())
        kms = make_client(f"127.0.0.1:{port}", secret_id=creds["secret_id"],
                          secret_key=creds["secret_key"])
        key = call(kms, "CreateKey", Alias="from-the-package").KeyId
        blob = call(kms, "Encrypt", KeyId=key, Plaintext=b64(b"installed")).CiphertextBlob
        assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"installed"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    # The configured JSON log, and every file the server wrote is the kmsd user's alone.
    first = proc.stderr.read().decode().splitlines()[0]
    assert json.loads(first)["level"] == "INFO", first
    for path in DATA_DIR.iterdir():
        mode, user, _ = mode_and_owner(path)
        assert user == "kmsd", path
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def test_a_purge_removes_the_package_and_keeps_the_keys(installed):
    run("dpkg", "--purge", "kmsd")
    assert not Path("/usr/bin/kmsd").exists()
    assert not CONFIG.exists() and not CONFIG.parent.exists()
    assert not Path("/usr/lib/systemd/system/kmsd.service").exists()
    assert (DATA_DIR / "root.key").exists(), "the data dir holds every key: a purge keeps it"
