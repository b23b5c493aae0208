"""Everything kmsd writes in its data directory is private to its user: the directory 0700 and
every file 0600, under umask 022 and in a directory made before with 0755; files left looser by
an earlier start are tightened, and the root key, if readable by others, is refused."""

import os
import stat
import subprocess

from conftest import KMSD_BIN, KmsdProcess


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


class Umask022Kmsd(KmsdProcess):
    """A kmsd started under umask 022, the common default."""

    def start(self):
        previous = os.umask(0o022)
        try:
            return super().start()
        finally:
            os.umask(previous)


def test_a_loose_data_dir_under_umask_022_ends_up_private(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    audit = data_dir / "audit.jsonl"
    proc = Umask022Kmsd(data_dir, extra_args=["--audit-log", str(audit)],
                        env={"KMSD_ROOT_SECRET_ID": None, "KMSD_ROOT_SECRET_KEY": None,
                             "KMSD_ROOT_PROJECT_ID": None}).start()
    try:
        names = sorted(p.name for p in data_dir.iterdir())
        assert {"kms.redb", "kmsd.lock", "root.key", "root-credentials.json", "admin-token",
                "audit.jsonl"} <= set(names), names
        assert mode(data_dir) == 0o700
        assert {n: mode(data_dir / n) for n in names} == {n: 0o600 for n in names}
    finally:
        proc.stop()
    # Files an operator (or an older kmsd) left readable are tightened at the next start.
    for name in ("kms.redb", "kmsd.lock", "audit.jsonl", "root-credentials.json"):
        os.chmod(data_dir / name, 0o644)
    os.chmod(data_dir, 0o755)
    proc = Umask022Kmsd(data_dir, extra_args=["--audit-log", str(audit)],
                        env={"KMSD_ROOT_SECRET_ID": None, "KMSD_ROOT_SECRET_KEY": None,
                             "KMSD_ROOT_PROJECT_ID": None}).start()
    try:
        assert mode(data_dir) == 0o700
        names = sorted(p.name for p in data_dir.iterdir())
        assert {n: mode(data_dir / n) for n in names} == {n: 0o600 for n in names}
        assert "made a data directory entry private" in proc.log_path.read_text()
    finally:
        proc.cleanup()


def test_a_root_key_readable_by_others_is_refused_not_hidden(tmp_path):
    data_dir = tmp_path / "data"
    proc = KmsdProcess(data_dir).start()
    proc.stop()
    os.chmod(data_dir / "root.key", 0o644)
    done = subprocess.run([KMSD_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "readable by other users" in done.stderr, done.stderr
    assert mode(data_dir / "root.key") == 0o644
