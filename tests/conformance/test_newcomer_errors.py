"""Errors a newcomer meets first say what is wrong and what to do: the Huawei SDK given no project
id, a refused setting (one line, no stack trace, even with RUST_BACKTRACE), and `kmsd admin
--data-dir` on a directory a server is running on."""

import os
import re
import subprocess

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkkms.v2 import KmsClient
from huaweicloudsdkkms.v2 import model as m

from conftest import KMSD_BIN, PROJECT_ID, SECRET_ID, SECRET_KEY, free_port
from huawei import expect, huawei_client
from test_admin import admin

MISSING_PROJECT = (
    'The project id is missing: the path has "{project_id}" where a project id (32 hex digits) '
    "belongs. Give the SDK's credentials the project id (root-credentials.json's project_id for "
    "the root account, or one listed by GET /v3/projects), or this server as their IAM endpoint."
)


def list_keys(hw):
    return hw.list_keys(m.ListKeysRequest(body=m.ListKeysRequestBody()))


def test_the_huawei_sdk_without_a_project_id_is_told_it_is_missing(server):
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    # No project id and no IAM endpoint: the SDK sends its path template's `{project_id}` as is.
    hw = (KmsClient.new_builder()
          .with_http_config(config)
          .with_credentials(BasicCredentials(SECRET_ID, SECRET_KEY))
          .with_endpoints([server.url])
          .build())
    assert expect(403, "KMS.0306", list_keys, hw).error_msg == MISSING_PROJECT

    # Any other text that is no project id is named in the same message; a well-formed project
    # id of someone else's is not "missing".
    garbled = huawei_client(server.endpoint, project_id="my-project")
    assert expect(403, "KMS.0306", list_keys, garbled).error_msg == MISSING_PROJECT.replace(
        "{project_id}", "my-project")
    foreign = huawei_client(server.endpoint, project_id="f" * 32)
    assert expect(403, "KMS.0306", list_keys, foreign).error_msg == "The project id is not one of the caller's."
    assert list_keys(huawei_client(server.endpoint, project_id=PROJECT_ID)).total is not None


def serve(tmp_path, *args, env=None):
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("KMSD_")}
    run_env.update(env or {})
    cmd = [KMSD_BIN, "serve", "--data-dir", str(tmp_path / "data"), *args]
    return subprocess.run(cmd, env=run_env, capture_output=True, text=True, timeout=20)


@pytest.mark.parametrize("backtrace", ["1", "full"])
def test_a_refused_setting_is_one_line_without_a_stack_trace(tmp_path, backtrace):
    env = {"RUST_BACKTRACE": backtrace, "RUST_LIB_BACKTRACE": backtrace}
    out = serve(tmp_path, "--listen", f"127.0.0.1:{free_port()}", "--tls-cert", "server.crt", env=env)
    assert (out.returncode, out.stdout, out.stderr) == (
        1, "", "error: --tls-cert and --tls-key must be given together\n")
    assert not (tmp_path / "data").exists(), "a refused start writes nothing"

    # A setting refused with its cause: the cause follows on the same line.
    out = serve(tmp_path, "--listen", "127.0.0.1:8740", "--config", str(tmp_path / "absent.toml"), env=env)
    assert out.returncode == 1 and out.stdout == ""
    assert re.fullmatch(r"error: [^\n]*absent\.toml[^\n]*No such file or directory[^\n]*\n", out.stderr), out.stderr


def test_admin_on_a_served_data_dir_is_sent_to_the_server(server):
    data_dir = server.data_dir
    refused = admin("account", "list", data_dir=data_dir, check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    pid = server.proc.pid
    assert refused.stderr == (
        f"error: a kmsd server (pid {pid}, listening on {server.endpoint}) is running on the data "
        f"directory {data_dir}, and --data-dir needs the directory to itself: send the command to "
        f"that server instead, with --endpoint http://{server.endpoint} (https:// if it serves TLS) "
        f"and --token-file {data_dir / 'admin-token'}\n")

    # The advice works as given.
    accounts = admin("account", "list", "--endpoint", f"http://{server.endpoint}",
                     "--token-file", str(data_dir / "admin-token"))
    assert [a["project_id"] for a in accounts["accounts"]] == [PROJECT_ID], "the server's root account"
