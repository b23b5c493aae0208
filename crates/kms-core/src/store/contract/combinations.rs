//! The store contract's cases for every combination of filters the dialects send: each
//! listing's total and pages must be those of a naive filter of all records
//! ([`ListQuery::matches`]), before and after writes move records between index terms.

use uuid::Uuid;

use super::{check_data_key_listing, check_key_listing, data_key, key, next, tag};
use crate::model::*;
use crate::store::{DataKeyListFilter, HsmClusterFilter, KeyListFilter, ListQuery, Store};

pub(super) fn check<S: Store>(new_store: &mut impl FnMut() -> S) {
    every_key_filter_combination_matches_a_naive_filter(&new_store());
    every_data_key_filter_combination_matches_a_naive_filter(&new_store());
}

/// Thirty keys over every small dimension (states, origins, several (usage, spec) pairs), tags
/// and HSM clusters, creation times shared in threes; and keys of other scopes that would match.
fn combination_keys() -> Vec<KeyRecord> {
    let pairs = [
        (KeyUsage::EncryptDecrypt, KeySpec::Aes256),
        (KeyUsage::EncryptDecrypt, KeySpec::Sm4),
        (KeyUsage::SignVerify, KeySpec::EccP256),
        (KeyUsage::GenerateVerifyMac, KeySpec::Hmac256),
        (KeyUsage::EncryptDecrypt, KeySpec::Rsa2048),
        (KeyUsage::SignVerify, KeySpec::Rsa2048),
    ];
    let mut keys: Vec<KeyRecord> = (0..30u64)
        .map(|i| {
            let mut k = key(1, &format!("k{i}"), 100 + i / 3);
            k.state = KeyState::ALL[i as usize % 5];
            k.origin = Origin::ALL[(i as usize / 2) % 2];
            (k.usage, k.spec) = pairs[(i as usize / 3) % pairs.len()];
            if i % 3 != 2 {
                k.tags
                    .push(tag("team", if i.is_multiple_of(2) { "a" } else { "b" }));
            }
            if i.is_multiple_of(4) {
                k.tags.push(tag("env", "prod"));
            }
            if i % 7 == 3 {
                k.hsm_cluster = Some(CLUSTER.into());
            }
            k
        })
        .collect();
    keys.push(key(9, "k1", 100));
    let mut elsewhere = key(1, "k2", 100);
    elsewhere.region = "ap-beijing".into();
    keys.push(elsewhere);
    keys
}

/// The HSM cluster some records live in.
const CLUSTER: &str = "cls-a";

/// Both kinds of HSM cluster filter.
fn cluster_filters() -> [HsmClusterFilter; 2] {
    [
        HsmClusterFilter::Shared,
        HsmClusterFilter::Cluster(CLUSTER.into()),
    ]
}

/// A filter's usages and specs.
type UsagesAndSpecs = (Option<Vec<KeyUsage>>, Option<Vec<KeySpec>>);

/// Every filter ListKeys, ListKeyDetail (each KeyState, Origin, KeyUsage, TagFilters and
/// SearchKeyAlias, alone and combined; HsmClusterId with the states, usages and a tag),
/// Huawei's list-keys (key_state with key_spec) and list-kms-by-tags send, and a few more.
fn key_filters() -> Vec<KeyListFilter> {
    let states: [Option<Vec<KeyState>>; 4] = [
        None,
        Some(vec![KeyState::Enabled]),
        Some(vec![
            KeyState::Enabled,
            KeyState::Disabled,
            KeyState::PendingImport,
        ]),
        Some(vec![KeyState::Archived]),
    ];
    let origins = [None, Some(Origin::Kms), Some(Origin::External)];
    let usages_and_specs: [UsagesAndSpecs; 5] = [
        (None, None),
        (
            Some(vec![KeyUsage::EncryptDecrypt]),
            Some(vec![KeySpec::Aes256, KeySpec::Sm4]),
        ),
        (
            Some(vec![KeyUsage::SignVerify]),
            Some(vec![KeySpec::Rsa2048]),
        ),
        (None, Some(vec![KeySpec::Rsa2048])),
        (Some(vec![KeyUsage::GenerateVerifyMac]), None),
    ];
    let team = |values: &[&str]| {
        (
            "team".to_owned(),
            values.iter().map(|v| v.to_string()).collect(),
        )
    };
    let tags: [Vec<(String, Vec<String>)>; 5] = [
        vec![],
        vec![team(&["a"])],
        vec![team(&["a", "b"])],
        vec![team(&[])],
        vec![team(&["b"]), ("env".into(), vec!["prod".into()])],
    ];
    let mut filters = Vec::new();
    for s in &states {
        for o in &origins {
            for (u, sp) in &usages_and_specs {
                for t in &tags {
                    for search in [None, Some("k1".to_owned())] {
                        filters.push(KeyListFilter {
                            states: s.clone(),
                            origin: *o,
                            usages: u.clone(),
                            specs: sp.clone(),
                            search,
                            tags: t.clone(),
                            ..Default::default()
                        });
                    }
                }
            }
        }
    }
    for s in &states {
        for (u, sp) in &usages_and_specs {
            for t in [vec![], vec![team(&["a"])]] {
                for cluster in cluster_filters() {
                    filters.push(KeyListFilter {
                        states: s.clone(),
                        usages: u.clone(),
                        specs: sp.clone(),
                        tags: t.clone(),
                        hsm_cluster: Some(cluster),
                        ..Default::default()
                    });
                }
            }
        }
    }
    filters
}

fn every_key_filter_combination_matches_a_naive_filter(store: &dyn Store) {
    let mut keys = combination_keys();
    for k in &keys {
        store.create_key(k, 100).unwrap();
    }
    let filters = key_filters();
    let check_all = |keys: &[KeyRecord]| {
        for f in &filters {
            check_key_listing(store, keys, f, |k| f.matches(k));
        }
    };
    check_all(&keys);

    // Writes move keys between tuples and tags: enable, disable, retag, delete.
    let mut changed = Vec::new();
    for i in [0usize, 7, 13, 21] {
        changed.push(next(&keys[i], |k| {
            k.revision += 1;
            k.state = if k.state == KeyState::Enabled {
                KeyState::Disabled
            } else {
                KeyState::Enabled
            };
            k.tags = vec![tag("team", "a"), tag("env", "prod")];
        }));
    }
    store.update_keys(&changed, 100).unwrap();
    for k in changed {
        let i = keys.iter().position(|o| o.key_id == k.key_id).unwrap();
        keys[i] = k;
    }
    let gone = keys.remove(4);
    store.delete_key(&gone).unwrap();
    check_all(&keys);
}

fn every_data_key_filter_combination_matches_a_naive_filter(store: &dyn Store) {
    let cmks = [Uuid::new_v4(), Uuid::new_v4()];
    let mut dks: Vec<DataKeyRecord> = (0..24u64)
        .map(|i| {
            let mut d = data_key(1, &format!("d{i}"), 50 + i / 3);
            d.state = DataKeyState::ALL[i as usize % 3];
            d.origin = Origin::ALL[(i as usize / 2) % 2];
            d.key_id = cmks[(i as usize / 3) % 2];
            d.length = if i % 5 < 2 { 16 } else { 32 };
            if i % 3 != 0 {
                d.tags
                    .push(tag("app", if i.is_multiple_of(2) { "x" } else { "y" }));
            }
            if i % 4 == 1 {
                d.hsm_cluster = Some(CLUSTER.into());
            }
            d
        })
        .collect();
    dks.push(data_key(2, "d1", 50));
    for d in &dks {
        store.create_data_key(d, 100).unwrap();
    }
    let mut filters = Vec::new();
    let states: [Option<Vec<DataKeyState>>; 3] = [
        None,
        Some(vec![DataKeyState::Enabled]),
        Some(vec![DataKeyState::Disabled, DataKeyState::PendingDelete]),
    ];
    let tags: [Vec<(String, Vec<String>)>; 3] = [
        vec![],
        vec![("app".into(), vec!["y".into()])],
        vec![("app".into(), vec![])],
    ];
    for s in &states {
        for origin in [None, Some(Origin::External)] {
            for key_id in [None, Some(cmks[0])] {
                for length in [None, Some(16)] {
                    for t in &tags {
                        for search in [None, Some("d1".to_owned())] {
                            filters.push(DataKeyListFilter {
                                states: s.clone(),
                                origin,
                                key_id,
                                length,
                                search,
                                tags: t.clone(),
                                ..Default::default()
                            });
                        }
                    }
                }
            }
        }
        for key_id in [None, Some(cmks[0])] {
            for cluster in cluster_filters() {
                filters.push(DataKeyListFilter {
                    states: s.clone(),
                    key_id,
                    hsm_cluster: Some(cluster),
                    ..Default::default()
                });
            }
        }
    }
    let check_all = |dks: &[DataKeyRecord]| {
        for f in &filters {
            check_data_key_listing(store, dks, f, |d| f.matches(d));
        }
    };
    check_all(&dks);

    let changed = next(&dks[1], |d| {
        d.revision += 1;
        d.state = DataKeyState::Enabled;
        d.key_id = cmks[0];
        d.length = 16;
        d.tags = vec![tag("app", "y")];
    });
    store.update_data_key(&changed, 100).unwrap();
    dks[1] = changed;
    let gone = dks.remove(6);
    store.delete_data_key(&gone).unwrap();
    check_all(&dks);
}
