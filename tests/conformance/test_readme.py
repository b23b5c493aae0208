"""The README's tour runs as written: its Python block (twice, as a reader trying it again would)
and its tccli lines, from the directory that holds `kms-data`, against a server started the way
the README starts one. The only change is the port: the README's 127.0.0.1:8740 becomes the test
server's own."""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import ROOT, KmsdProcess

README = ROOT / "README.md"
README_ENDPOINT = "127.0.0.1:8740"
ROOT_ENV_UNSET = {"KMSD_ROOT_SECRET_ID": None, "KMSD_ROOT_SECRET_KEY": None, "KMSD_ROOT_PROJECT_ID": None}


def readme_block(language, containing):
    blocks = re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), re.S | re.M)
    found = [b for b in blocks if containing in b]
    assert len(found) == 1, f"one {language} block with {containing!r} in the README"
    return found[0]


def test_readme_tour_and_tccli_run_as_written(tmp_path):
    tour = readme_block("python", "kms_client.KmsClient")
    cli = readme_block("sh", "tccli kms")
    assert README_ENDPOINT in tour and README_ENDPOINT in cli
    proc = KmsdProcess(data_dir=tmp_path / "kms-data", env=ROOT_ENV_UNSET)
    try:
        proc.start()
        tour = tour.replace(README_ENDPOINT, proc.endpoint)
        cli = cli.replace(README_ENDPOINT, proc.endpoint)
        for attempt in range(2):
            out = subprocess.run([sys.executable, "-c", tour], cwd=tmp_path, capture_output=True, text=True,
                                 timeout=60)
            assert out.returncode == 0, f"run {attempt + 1}: {out.stderr}"
            assert out.stdout == "b'card 4111'\n", out.stdout

        # tccli and python3 as a reader's shell finds them: from the environment the SDK is in
        with tempfile.TemporaryDirectory(prefix="tccli-home-") as home:
            env = dict(os.environ, HOME=home,
                       PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
            out = subprocess.run(["bash", "-euo", "pipefail", "-c", cli], cwd=tmp_path, env=env,
                                 capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        listed = json.loads(out.stdout)
        assert listed["TotalCount"] == 2, "both tour runs made a key"
        assert len(listed["Keys"]) == 2
    finally:
        proc.cleanup()
