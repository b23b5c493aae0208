//! Accounts, users (with a credential and policies) and policies of a fixture file, checked.
//! They are made through the identity operations of the admin API (`kmsd`'s `Admin`), which
//! also check each policy document as the API does.

use std::collections::HashSet;

use serde::Deserialize;
use zeroize::Zeroizing;

use kms_core::AccountId;
use kms_core::identity::{PolicyLanguage, is_project_id, is_secret_id, is_secret_key};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountFixture {
    uin: AccountId,
    #[serde(default)]
    app_id: Option<u64>,
    secret_id: String,
    secret_key: Zeroizing<String>,
    project_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserFixture {
    /// Absent: the root account (dev mode's).
    #[serde(default)]
    account: Option<AccountId>,
    id: String,
    name: String,
    #[serde(default)]
    secret_id: Option<String>,
    #[serde(default)]
    secret_key: Option<Zeroizing<String>>,
    #[serde(default)]
    policies: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyFixture {
    #[serde(default)]
    account: Option<AccountId>,
    name: String,
    language: PolicyLanguage,
    document: String,
}

/// An account to make, with its root credential.
pub struct FixedAccount {
    pub uin: AccountId,
    pub app_id: u64,
    pub secret_id: String,
    pub secret_key: Zeroizing<String>,
    pub project_id: String,
}

/// A user to make in `account` (`None`: the root account), with its credential and policies.
pub struct FixedUser {
    pub account: Option<AccountId>,
    pub id: String,
    pub name: String,
    pub credential: Option<(String, Zeroizing<String>)>,
    pub policies: Vec<String>,
}

/// A policy document to store in `account` (`None`: the root account).
pub struct FixedPolicy {
    pub account: Option<AccountId>,
    pub name: String,
    pub language: PolicyLanguage,
    pub document: String,
}

/// The rules of a chosen root credential (`KMSD_ROOT_SECRET_ID`/`_KEY`): what the signers
/// accept.
fn check_credential(name: &str, secret_id: &str, secret_key: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        is_secret_id(secret_id),
        "{name}: secret_id must be 1 to 128 characters from A-Z, a-z, 0-9, '-', '_' and '.'"
    );
    anyhow::ensure!(
        is_secret_key(secret_key),
        "{name}: secret_key must be 1 to 256 printable ASCII characters without spaces"
    );
    Ok(())
}

pub(crate) fn accounts(list: Vec<AccountFixture>) -> anyhow::Result<Vec<FixedAccount>> {
    let mut uins = HashSet::new();
    let mut secret_ids = HashSet::new();
    list.into_iter()
        .enumerate()
        .map(|(i, a)| {
            let name = format!("accounts[{i}] ({})", a.uin);
            anyhow::ensure!(a.uin > 0, "{name}: uin must be a positive number");
            anyhow::ensure!(uins.insert(a.uin), "{name}: uin appears twice");
            check_credential(&name, &a.secret_id, &a.secret_key)?;
            anyhow::ensure!(
                secret_ids.insert(a.secret_id.clone()),
                "{name}: secret_id appears twice"
            );
            anyhow::ensure!(
                is_project_id(&a.project_id),
                "{name}: project_id must be 32 lowercase hex characters"
            );
            Ok(FixedAccount {
                uin: a.uin,
                app_id: a.app_id.unwrap_or(1_250_000_000 + a.uin % 10_000_000),
                secret_id: a.secret_id,
                secret_key: a.secret_key,
                project_id: a.project_id,
            })
        })
        .collect()
}

pub(crate) fn policies(
    list: Vec<PolicyFixture>,
    accounts: &[FixedAccount],
) -> anyhow::Result<Vec<FixedPolicy>> {
    let mut names = HashSet::new();
    list.into_iter()
        .enumerate()
        .map(|(i, p)| {
            let name = format!("policies[{i}] ({})", p.name);
            known_account(&name, p.account, accounts)?;
            anyhow::ensure!(
                names.insert((p.account, p.name.clone())),
                "{name}: a policy of this name is already in the account"
            );
            kms_core::identity::check_policy(&p.name, p.language, &p.document)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            Ok(FixedPolicy {
                account: p.account,
                name: p.name,
                language: p.language,
                document: p.document,
            })
        })
        .collect()
}

pub(crate) fn users(
    list: Vec<UserFixture>,
    accounts: &[FixedAccount],
    policies: &[FixedPolicy],
) -> anyhow::Result<Vec<FixedUser>> {
    let mut ids = HashSet::new();
    let mut secret_ids: HashSet<&str> = accounts.iter().map(|a| a.secret_id.as_str()).collect();
    let mut users = Vec::new();
    for (i, u) in list.into_iter().enumerate() {
        let name = format!("users[{i}] ({})", u.name);
        known_account(&name, u.account, accounts)?;
        anyhow::ensure!(
            !u.id.is_empty() && u.id.len() <= 20 && u.id.bytes().all(|b| b.is_ascii_digit()),
            "{name}: id must be 1 to 20 digits (a sub-account UIN)"
        );
        anyhow::ensure!(
            ids.insert(u.id.clone()) && accounts.iter().all(|a| a.uin.to_string() != u.id),
            "{name}: id {} is another user's or account's",
            u.id
        );
        let credential = match (u.secret_id, u.secret_key) {
            (Some(id), Some(key)) => {
                check_credential(&name, &id, &key)?;
                Some((id, key))
            }
            (None, None) => None,
            _ => anyhow::bail!("{name}: give secret_id and secret_key together, or neither"),
        };
        for policy in &u.policies {
            anyhow::ensure!(
                policies
                    .iter()
                    .any(|p| p.account == u.account && &p.name == policy),
                "{name}: policy {policy:?} is not among the fixture's policies of its account"
            );
        }
        users.push(FixedUser {
            account: u.account,
            id: u.id,
            name: u.name,
            credential,
            policies: u.policies,
        });
    }
    for u in &users {
        if let Some((id, _)) = &u.credential {
            anyhow::ensure!(
                secret_ids.insert(id),
                "users ({}): secret_id {id} appears twice",
                u.name
            );
        }
    }
    Ok(users)
}

/// `account`, when given, must be one of the fixture's accounts.
pub(crate) fn known_account(
    name: &str,
    account: Option<AccountId>,
    accounts: &[FixedAccount],
) -> anyhow::Result<()> {
    if let Some(uin) = account {
        anyhow::ensure!(
            accounts.iter().any(|a| a.uin == uin),
            "{name}: account {uin} is not among the fixture's accounts (leave it out for the \
             root account)"
        );
    }
    Ok(())
}
