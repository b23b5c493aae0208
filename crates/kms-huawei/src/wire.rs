//! Request bodies named as the SDK's models name them. Numbers arrive as JSON strings.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct CreateKeyRequestBody {
    pub key_alias: Option<String>,
    pub key_spec: Option<String>,
    pub key_usage: Option<String>,
    pub key_description: Option<String>,
    pub origin: Option<String>,
}

/// The body of every operation that names one key and nothing else.
#[derive(Debug, Default, Deserialize)]
pub struct OperateKeyRequestBody {
    pub key_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListKeysRequestBody {
    pub limit: Option<String>,
    pub marker: Option<String>,
    pub key_state: Option<String>,
    pub key_spec: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ScheduleKeyDeletionRequestBody {
    pub key_id: Option<String>,
    pub pending_days: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct UpdateKeyAliasRequestBody {
    pub key_id: Option<String>,
    pub key_alias: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct UpdateKeyDescriptionRequestBody {
    pub key_id: Option<String>,
    pub key_description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct EncryptDataRequestBody {
    pub key_id: Option<String>,
    pub plain_text: Option<String>,
    pub additional_authenticated_data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DecryptDataRequestBody {
    pub cipher_text: Option<String>,
    pub key_id: Option<String>,
    pub additional_authenticated_data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct GenRandomRequestBody {
    pub random_data_length: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CreateDatakeyRequestBody {
    pub key_id: Option<String>,
    pub key_spec: Option<String>,
    pub datakey_length: Option<String>,
    pub additional_authenticated_data: Option<String>,
}
