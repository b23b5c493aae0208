//! Handlers of the hosted data key actions.

use serde_json::{Value, json};

use kms_core::engine::{DataKeyImport, DataKeyListFilter, NewDataKey};
use kms_core::{DataKeyRecord, DataKeyState, Engine, KmsError, SortOrder};

use crate::actions::*;
use crate::errors::*;
use crate::requests::*;
use crate::wire::{DataKeyMetadata, OwnUnreplicated, data_key_state, origin};

/// Imported plaintext data keys: 1 to 1024 bytes, as GenerateDataKey's NumberOfBytes allows.
const MAX_IMPORTED_DATA_KEY: usize = 1024;

fn metadata(ctx: &Ctx<'_>, dk: &DataKeyRecord) -> DataKeyMetadata {
    // KeyName is the CMK's alias; a CMK since purged leaves it empty.
    let key_name = ctx
        .engine
        .describe_key(&ctx.caller, &dk.key_id.to_string())
        .map(|k| k.alias)
        .unwrap_or_default();
    DataKeyMetadata {
        data_key_id: dk.data_key_id.to_string(),
        key_id: dk.key_id.to_string(),
        key_name,
        data_key_name: dk.name.clone(),
        number_of_bytes: dk.length,
        create_time: dk.created_at,
        description: dk.description.clone(),
        key_state: data_key_state(dk.state),
        creator_uin: dk.creator,
        owner: "user",
        deletion_date: dk.deletion_date,
        origin: origin(dk.origin),
        hsm_cluster_id: dk.hsm_cluster.clone().unwrap_or_default(),
        resource_id: format!("creatorUin/{}/{}", dk.creator, dk.data_key_id),
        own_unreplicated: OwnUnreplicated::default(),
        creator_uin_string: dk.creator.to_string(),
    }
}

/// Data key names follow the alias rules, without the reserved prefix.
fn check_data_key_name(name: &str) -> Result<(), TcError> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(TcError::new(
            "InvalidParameterValue.InvalidDataKeyName",
            "DataKeyName must be 1 to 60 letters, digits, '-' or '_', starting with a letter or digit.",
        ))
    }
}

/// The name, description and tags of a data key to host, from GenerateDataKey or ImportDataKey.
pub(crate) fn new_data_key(
    name: Option<&str>,
    description: Option<&str>,
    tags: &[Tag],
    expected_hsm_cluster: Option<String>,
) -> Result<NewDataKey, TcError> {
    let name = match name {
        None | Some("") => {
            return Err(TcError::new(
                MISSING_PARAMETER,
                "The parameter `DataKeyName` is required when the data key is hosted.",
            ));
        }
        Some(n) => n,
    };
    check_data_key_name(name)?;
    Ok(NewDataKey {
        name: name.to_owned(),
        description: description.unwrap_or_default().to_owned(),
        tags: engine_tags(tags),
        expected_hsm_cluster,
    })
}

pub(crate) fn import_data_key(ctx: &Ctx<'_>, r: &ImportDataKeyRequest) -> Result<Value, TcError> {
    const BAD_MATERIAL: &str = "InvalidParameterValue.InvalidImportKeyMaterial";
    let expected_hsm_cluster = served_hsm_cluster(ctx, r.hsm_cluster_id.as_deref())?;
    let new = new_data_key(
        Some(&r.data_key_name),
        r.description.as_deref(),
        &r.tags,
        expected_hsm_cluster,
    )?;
    let key_id = r.key_id.as_deref().filter(|s| !s.is_empty());
    let material = decode_base64(&r.import_key_material, BAD_MATERIAL, "ImportKeyMaterial")?;
    let result = if r.import_type == 1 {
        ctx.engine.import_data_key(
            &ctx.caller,
            DataKeyImport::Ciphertext(&material),
            key_id,
            new,
        )
    } else {
        let key_id = key_id.ok_or_else(|| {
            TcError::new(
                MISSING_PARAMETER,
                "The parameter `KeyId` is required to import a plaintext data key.",
            )
        })?;
        if material.is_empty() || material.len() > MAX_IMPORTED_DATA_KEY {
            return Err(TcError::new(
                BAD_MATERIAL,
                format!("The data key must be 1 to {MAX_IMPORTED_DATA_KEY} bytes."),
            ));
        }
        ctx.engine.import_data_key(
            &ctx.caller,
            DataKeyImport::Plaintext {
                key_id,
                plaintext: &material,
            },
            None,
            new,
        )
    };
    let record = result.map_err(|e| match e {
        // The vendor names the parameter, not the ciphertext format, for an import it cannot read.
        KmsError::InvalidCiphertext => TcError::new(
            BAD_MATERIAL,
            "ImportKeyMaterial is not a data key ciphertext of this account and region.",
        ),
        other => ctx.kms(other),
    })?;
    Ok(json!({
        "KeyId": record.key_id.to_string(),
        "DataKeyId": record.data_key_id.to_string(),
        "TagCode": 0,
        "TagMsg": "Success",
    }))
}

pub(crate) fn describe_data_key(
    ctx: &Ctx<'_>,
    r: &DescribeDataKeyRequest,
) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    let dk = ctx
        .engine
        .describe_data_key(&ctx.caller, &r.data_key_id)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "DataKeyMetadata": metadata(ctx, &dk) }))
}

pub(crate) fn describe_data_keys(
    ctx: &Ctx<'_>,
    r: &DescribeDataKeysRequest,
) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    let dks = ctx
        .engine
        .describe_data_keys(&ctx.caller, &r.data_key_ids)
        .map_err(|e| ctx.kms(e))?;
    let list: Vec<DataKeyMetadata> = dks.iter().map(|dk| metadata(ctx, dk)).collect();
    Ok(json!({ "DataKeyMetadatas": list }))
}

pub(crate) fn list_data_keys(ctx: &Ctx<'_>, r: &ListDataKeysRequest) -> Result<Value, TcError> {
    let hsm_cluster = hsm_cluster_filter(ctx, r.hsm_cluster_id.as_deref())?;
    let (offset, limit) = page(r.offset, r.limit);
    let filter = DataKeyListFilter {
        hsm_cluster,
        order: SortOrder::OldestFirst,
        offset,
        limit,
        ..Default::default()
    };
    let (total, dks) = own_keys_only(r.role, || {
        ctx.engine
            .list_data_keys(&ctx.caller, &filter)
            .map_err(|e| ctx.kms(e))
    })?;
    let ids: Vec<Value> = dks
        .iter()
        .map(|dk| json!({ "DataKeyId": dk.data_key_id.to_string() }))
        .collect();
    Ok(json!({ "DataKeys": ids, "TotalCount": total }))
}

pub(crate) fn list_data_key_detail(
    ctx: &Ctx<'_>,
    r: &ListDataKeyDetailRequest,
) -> Result<Value, TcError> {
    refuse_member_account(r.member_accounts.is_some())?;
    let hsm_cluster = hsm_cluster_filter(ctx, r.hsm_cluster_id.as_deref())?;
    let (offset, limit) = page(r.offset, r.limit);
    let states = match r.key_state.unwrap_or(0) {
        1 => Some(vec![DataKeyState::Enabled]),
        2 => Some(vec![DataKeyState::Disabled]),
        3 => Some(vec![DataKeyState::PendingDelete]),
        _ => None,
    };
    let origin = origin_filter(r.origin.as_deref())?;
    let key_id = match r.key_id.as_deref().filter(|s| !s.is_empty()) {
        Some(id) => Some(kms_core::engine::parse_key_id(id).map_err(|e| ctx.kms(e))?),
        None => None,
    };
    let filter = DataKeyListFilter {
        states,
        origin,
        key_id,
        length: r.data_key_len.filter(|n| *n > 0).map(|n| n as u32),
        search: search(&r.search_key_alias),
        tags: engine_tag_filters(&r.tag_filters),
        hsm_cluster,
        order: sort_order(r.order_type),
        offset,
        limit,
    };
    let (total, dks) = own_keys_only(r.role, || {
        ctx.engine
            .list_data_keys(&ctx.caller, &filter)
            .map_err(|e| ctx.kms(e))
    })?;
    let list: Vec<DataKeyMetadata> = dks.iter().map(|dk| metadata(ctx, dk)).collect();
    Ok(json!({ "DataKeyMetadatas": list, "TotalCount": total }))
}

pub(crate) fn enable_data_key(ctx: &Ctx<'_>, r: &EnableDataKeyRequest) -> Result<Value, TcError> {
    on_id(
        ctx,
        r.member_account,
        &r.data_key_id,
        Engine::enable_data_key,
    )
}

pub(crate) fn disable_data_key(ctx: &Ctx<'_>, r: &DisableDataKeyRequest) -> Result<Value, TcError> {
    on_id(
        ctx,
        r.member_account,
        &r.data_key_id,
        Engine::disable_data_key,
    )
}

pub(crate) fn enable_data_keys(ctx: &Ctx<'_>, r: &EnableDataKeysRequest) -> Result<Value, TcError> {
    on_ids(
        ctx,
        r.member_account,
        &r.data_key_ids,
        Engine::enable_data_keys,
    )
}

pub(crate) fn disable_data_keys(
    ctx: &Ctx<'_>,
    r: &DisableDataKeysRequest,
) -> Result<Value, TcError> {
    on_ids(
        ctx,
        r.member_account,
        &r.data_key_ids,
        Engine::disable_data_keys,
    )
}

pub(crate) fn schedule_data_key_deletion(
    ctx: &Ctx<'_>,
    r: &ScheduleDataKeyDeletionRequest,
) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    let date = ctx
        .engine
        .schedule_data_key_deletion(&ctx.caller, &r.data_key_id, r.pending_window_in_days as u32)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "DeletionDate": date, "DataKeyId": r.data_key_id }))
}

pub(crate) fn cancel_data_key_deletion(
    ctx: &Ctx<'_>,
    r: &CancelDataKeyDeletionRequest,
) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    ctx.engine
        .cancel_data_key_deletion(&ctx.caller, &r.data_key_id)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "DataKeyId": r.data_key_id }))
}

pub(crate) fn get_data_key_plaintext(
    ctx: &Ctx<'_>,
    r: &GetDataKeyPlaintextRequest,
) -> Result<Value, TcError> {
    let plaintext = ctx
        .engine
        .data_key_plaintext(&ctx.caller, &r.data_key_id)
        .map_err(|e| ctx.kms(e))?;
    let plaintext = returned_plaintext(
        r.encryption_public_key.as_deref(),
        r.encryption_algorithm.as_deref(),
        &plaintext,
    )?;
    Ok(json!({ "Plaintext": plaintext }))
}

pub(crate) fn get_data_key_ciphertext_blob(
    ctx: &Ctx<'_>,
    r: &GetDataKeyCiphertextBlobRequest,
) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    let blob = ctx
        .engine
        .data_key_ciphertext(&ctx.caller, &r.data_key_id)
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({ "CiphertextBlob": B64.encode(blob) }))
}

pub(crate) fn update_data_key_name(
    ctx: &Ctx<'_>,
    r: &UpdateDataKeyNameRequest,
) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    check_data_key_name(&r.data_key_name)?;
    ctx.engine
        .rename_data_key(&ctx.caller, &r.data_key_id, r.data_key_name.clone())
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}

pub(crate) fn update_data_key_description(
    ctx: &Ctx<'_>,
    r: &UpdateDataKeyDescriptionRequest,
) -> Result<Value, TcError> {
    refuse_member_account(r.member_account.is_some())?;
    ctx.engine
        .update_data_key_description(&ctx.caller, &r.data_key_id, r.description.clone())
        .map_err(|e| ctx.kms(e))?;
    Ok(json!({}))
}
