"""Errors a newcomer meets first say what is wrong and what to do: the Huawei SDK given no project
id."""

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkkms.v2 import KmsClient
from huaweicloudsdkkms.v2 import model as m

from conftest import PROJECT_ID, SECRET_ID, SECRET_KEY
from huawei import expect, huawei_client

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
