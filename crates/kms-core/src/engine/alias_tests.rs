//! Aliases as resources: several per key, one namespace per account and region, freed with the
//! key.

use super::test_fixture::*;
use super::*;

#[test]
fn a_key_carries_several_aliases_that_each_find_it() {
    let f = fixture();
    let id = f.key("own-name");
    f.engine.create_alias(&f.caller, &id, "alias/one").unwrap();
    f.engine.create_alias(&f.caller, &id, "alias/two").unwrap();
    for name in ["own-name", "alias/one", "alias/two"] {
        assert_eq!(
            f.engine
                .key_by_alias(&f.caller, name)
                .unwrap()
                .key_id
                .to_string(),
            id
        );
    }
    let (total, page) = f.engine.list_aliases(&f.caller, Some(&id), 0, 10).unwrap();
    assert_eq!(total, 2);
    let names: Vec<&str> = page.iter().map(|(_, a)| a.name.as_str()).collect();
    assert_eq!(names, ["alias/one", "alias/two"]);
    assert_eq!(page[0].1.created_at, T0);
}

#[test]
fn names_are_unique_across_keys_and_their_own_aliases() {
    let f = fixture();
    let a = f.key("a");
    let b = f.key("b");
    f.engine
        .create_alias(&f.caller, &a, "alias/shared")
        .unwrap();
    for taken in ["alias/shared", "a", "b"] {
        assert_eq!(
            f.engine.create_alias(&f.caller, &b, taken).unwrap_err(),
            KmsError::AliasExists,
            "{taken}"
        );
    }
    let other_account = Caller {
        account: f.caller.account + 1,
        ..f.caller.clone()
    };
    assert_eq!(
        f.engine
            .key_by_alias(&other_account, "alias/shared")
            .unwrap_err(),
        KmsError::AliasNotFound
    );
}

#[test]
fn deleting_an_alias_frees_its_name() {
    let f = fixture();
    let a = f.key("a");
    let b = f.key("b");
    f.engine
        .create_alias(&f.caller, &a, "alias/moving")
        .unwrap();
    f.engine.delete_alias(&f.caller, "alias/moving").unwrap();
    assert_eq!(
        f.engine
            .delete_alias(&f.caller, "alias/moving")
            .unwrap_err(),
        KmsError::AliasNotFound
    );
    assert_eq!(
        f.engine.delete_alias(&f.caller, "a").unwrap_err(),
        KmsError::AliasNotFound,
        "a key's own alias is not an alias resource"
    );
    f.engine
        .create_alias(&f.caller, &b, "alias/moving")
        .unwrap();
    let (total, page) = f.engine.list_aliases(&f.caller, None, 0, 10).unwrap();
    assert_eq!((total, page[0].0.to_string()), (1, b));
}

#[test]
fn a_purged_key_frees_its_aliases_and_the_count_is_bounded() {
    let f = fixture();
    let id = f.key("doomed");
    f.engine
        .create_alias(&f.caller, &id, "alias/doomed")
        .unwrap();
    f.engine.disable_key(&f.caller, &id).unwrap();
    f.engine
        .schedule_deletion(&f.caller, &id, 7, DeletableFrom::Disabled)
        .unwrap();
    f.clock.advance(8 * 86_400);
    f.engine.run_due_work().unwrap();
    let other = f.key("other");
    f.engine
        .create_alias(&f.caller, &other, "alias/doomed")
        .unwrap();
    for i in 1..*ALIASES_PER_KEY.end() {
        f.engine
            .create_alias(&f.caller, &other, &format!("alias/{i}"))
            .unwrap();
    }
    assert!(matches!(
        f.engine
            .create_alias(&f.caller, &other, "alias/one-too-many"),
        Err(KmsError::OutOfRange {
            what: Bounded::AliasCount,
            ..
        })
    ));
}
