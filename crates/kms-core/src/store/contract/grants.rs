//! The store contract's cases for grants.

use uuid::Uuid;

use super::{REGION, key};
use crate::grants::{GrantOperation, GrantRecord, GranteeType};
use crate::store::{Store, StoreError};

pub(super) fn check<S: Store>(new_store: &mut impl FnMut() -> S) {
    grants_belong_to_their_key_within_its_quota(&new_store());
    retirable_grants_page_by_principal_and_region(&new_store());
    deleting_a_key_removes_its_grants(&new_store());
}

/// The `n`th grant of account 7 on `key_id`, ready to insert.
pub fn grant(key_id: Uuid, n: u64, retiring: &str) -> GrantRecord {
    GrantRecord {
        grant_id: format!("{n:064x}"),
        key_id,
        account: 7,
        region: REGION.into(),
        grantee: "8".into(),
        grantee_type: GranteeType::Domain,
        operations: vec![GrantOperation::DecryptData, GrantOperation::DescribeKey],
        name: format!("g{n}"),
        retiring_principal: retiring.into(),
        issuing_principal: "7".into(),
        // Creation times run against the ids, so order by time is seen to win.
        created_at: 1000 - n,
    }
}

fn ids(grants: &[GrantRecord]) -> Vec<&str> {
    grants.iter().map(|g| g.grant_id.as_str()).collect()
}

fn grants_belong_to_their_key_within_its_quota(store: &dyn Store) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    for n in 1..=3 {
        store.create_grant(&grant(a, n, ""), 3).unwrap();
    }
    assert_eq!(
        store.create_grant(&grant(a, 4, ""), 3),
        Err(StoreError::LimitReached)
    );
    assert_eq!(
        store.create_grant(&grant(b, 1, ""), 3),
        Ok(()),
        "the quota is per key"
    );
    assert_eq!(
        store.create_grant(&grant(b, 1, ""), 3),
        Err(StoreError::AlreadyExists)
    );
    let held = store.key_grants(&a).unwrap();
    assert_eq!(
        held,
        vec![grant(a, 3, ""), grant(a, 2, ""), grant(a, 1, "")]
    );
    assert!(store.delete_grant(&a, &grant(a, 2, "").grant_id).unwrap());
    assert!(!store.delete_grant(&a, &grant(a, 2, "").grant_id).unwrap());
    assert!(
        !store.delete_grant(&b, &grant(a, 3, "").grant_id).unwrap(),
        "a grant is removed only through its own key"
    );
    assert_eq!(
        ids(&store.key_grants(&a).unwrap()),
        ids(&[grant(a, 3, ""), grant(a, 1, "")])
    );
    store.create_grant(&grant(a, 4, ""), 3).unwrap();
    assert_eq!(store.key_grants(&Uuid::new_v4()).unwrap(), vec![]);
    assert_eq!(store.most_grants_on_a_key(7, REGION).unwrap(), 3);
    assert_eq!(store.most_grants_on_a_key(7, "ap-beijing").unwrap(), 0);
    assert_eq!(store.most_grants_on_a_key(8, REGION).unwrap(), 0);
}

fn retirable_grants_page_by_principal_and_region(store: &dyn Store) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    for n in 1..=3 {
        store.create_grant(&grant(a, n, "alice"), 100).unwrap();
    }
    store.create_grant(&grant(b, 4, "alice"), 100).unwrap();
    store.create_grant(&grant(b, 5, "bob"), 100).unwrap();
    let mut elsewhere = grant(b, 6, "alice");
    elsewhere.region = "ap-beijing".into();
    store.create_grant(&elsewhere, 100).unwrap();

    let all = store.retirable_grants(REGION, "alice", 0, 100).unwrap();
    assert_eq!(all.total, 4);
    assert_eq!(
        ids(&all.page),
        ids(&[
            grant(b, 4, "alice"),
            grant(a, 3, "alice"),
            grant(a, 2, "alice"),
            grant(a, 1, "alice"),
        ])
    );
    let page = store.retirable_grants(REGION, "alice", 1, 2).unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(ids(&page.page), ids(&all.page[1..3]));
    let other = store
        .retirable_grants("ap-beijing", "alice", 0, 100)
        .unwrap();
    assert_eq!(other.page, vec![elsewhere.clone()]);
    assert_eq!(
        store
            .retirable_grants(REGION, "carol", 0, 10)
            .unwrap()
            .total,
        0
    );

    store.delete_grant(&a, &grant(a, 2, "").grant_id).unwrap();
    let after = store.retirable_grants(REGION, "alice", 0, 100).unwrap();
    assert_eq!(
        after.total, 3,
        "a removed grant leaves the retirable listing"
    );
}

fn deleting_a_key_removes_its_grants(store: &dyn Store) {
    let k = key(7, "granted", 1);
    store.create_key(&k, 10).unwrap();
    store
        .create_grant(&grant(k.key_id, 1, "alice"), 100)
        .unwrap();
    store.create_grant(&grant(k.key_id, 2, ""), 100).unwrap();
    store.delete_key(&k).unwrap();
    assert_eq!(store.key_grants(&k.key_id).unwrap(), vec![]);
    assert_eq!(
        store
            .retirable_grants(REGION, "alice", 0, 10)
            .unwrap()
            .total,
        0
    );
}
