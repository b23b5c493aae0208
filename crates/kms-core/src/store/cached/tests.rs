use std::sync::Arc;

use super::*;
use crate::engine::nonblocking::without_blocking;
use crate::store::contract::key;
use crate::testing::MemoryStore;

fn renamed(store: &dyn Store, id: Uuid, description: &str) {
    let mut k = store.get_key(&id).unwrap().unwrap();
    k.description = description.into();
    k.revision += 1;
    store.update_key(&k, 100).unwrap();
}

fn description(store: &dyn Store, id: Uuid) -> String {
    store.get_key(&id).unwrap().unwrap().description
}

/// A cache over a memory store, and the store itself to change behind its back (as another
/// node would).
fn cached() -> (CachedStore, Arc<MemoryStore>, Uuid) {
    let inner = Arc::new(MemoryStore::default());
    let k = key(7, "a", 1);
    inner.create_key(&k, 100).unwrap();
    (CachedStore::new(inner.clone(), 64), inner, k.key_id)
}

#[test]
fn serves_nothing_cached_until_the_feed_vouches_for_it() {
    let (cache, other_node, id) = cached();
    assert_eq!(description(&cache, id), "");
    renamed(other_node.as_ref(), id, "changed elsewhere");
    assert_eq!(description(&cache, id), "changed elsewhere");
    assert_eq!(cache.figures().hits, 0);
    assert!(!cache.figures().trusted);
}

#[test]
fn a_reported_change_leaves_the_cache() {
    let (cache, other_node, id) = cached();
    cache.apply(FeedEvent::Resumed);
    assert_eq!(description(&cache, id), "");
    renamed(other_node.as_ref(), id, "changed elsewhere");
    assert_eq!(description(&cache, id), "", "served from the cache");
    assert_eq!(cache.figures().hits, 1);
    cache.apply(FeedEvent::Changed(Change::DataKey(id)));
    assert_eq!(description(&cache, id), "", "another record's change");
    cache.apply(FeedEvent::Changed(Change::Key(id)));
    assert_eq!(description(&cache, id), "changed elsewhere");
}

#[test]
fn a_lost_feed_reads_through_until_it_resumes() {
    let (cache, other_node, id) = cached();
    cache.apply(FeedEvent::Resumed);
    assert_eq!(description(&cache, id), "");
    cache.apply(FeedEvent::Lost);
    assert!(!cache.figures().trusted);
    renamed(other_node.as_ref(), id, "one");
    assert_eq!(description(&cache, id), "one");
    renamed(other_node.as_ref(), id, "two");
    assert_eq!(description(&cache, id), "two", "nothing cached while lost");
    cache.apply(FeedEvent::Resumed);
    renamed(other_node.as_ref(), id, "three");
    assert_eq!(
        description(&cache, id),
        "three",
        "resuming drops what was cached before"
    );
}

#[test]
fn this_nodes_writes_are_read_at_once() {
    let (cache, _, id) = cached();
    cache.apply(FeedEvent::Resumed);
    assert_eq!(description(&cache, id), "");
    renamed(&cache, id, "mine");
    assert_eq!(description(&cache, id), "mine");
    let mut stale = cache.get_key(&id).unwrap().unwrap();
    stale.revision -= 1;
    stale.description = "lost".into();
    stale.revision += 1;
    assert_eq!(cache.update_key(&stale, 100), Err(StoreError::Conflict));
    assert_eq!(description(&cache, id), "mine");
    let k = cache.get_key(&id).unwrap().unwrap();
    cache.delete_key(&k).unwrap();
    assert!(cache.get_key(&id).unwrap().is_none());
}

#[test]
fn names_follow_key_changes() {
    let (cache, other_node, id) = cached();
    cache.apply(FeedEvent::Resumed);
    assert_eq!(cache.key_by_name(7, "ap-guangzhou", "a").unwrap(), Some(id));
    let mut k = other_node.get_key(&id).unwrap().unwrap();
    k.alias = "b".into();
    k.revision += 1;
    other_node.update_key(&k, 100).unwrap();
    assert_eq!(cache.key_by_name(7, "ap-guangzhou", "a").unwrap(), Some(id));
    cache.apply(FeedEvent::Changed(Change::Key(id)));
    assert_eq!(cache.key_by_name(7, "ap-guangzhou", "a").unwrap(), None);
    assert_eq!(cache.key_by_name(7, "ap-guangzhou", "b").unwrap(), Some(id));
}

#[test]
fn a_read_overtaken_by_a_change_is_not_cached() {
    let (cache, other_node, id) = cached();
    cache.apply(FeedEvent::Resumed);
    let read = cache.read_through(&cache.keys, id, |store| {
        let found = store.get_key(&id);
        // The feed reports a change while the read is on its way back.
        cache.apply(FeedEvent::Changed(Change::Key(id)));
        found
    });
    assert_eq!(read.unwrap().unwrap().description, "");
    renamed(other_node.as_ref(), id, "newer");
    assert_eq!(
        description(&cache, id),
        "newer",
        "the older answer was not kept"
    );
}

#[test]
fn a_miss_is_refused_on_an_async_worker_and_a_hit_served() {
    let (cache, _, id) = cached();
    cache.apply(FeedEvent::Resumed);
    assert_eq!(without_blocking(|| cache.get_key(&id).map(|_| ())), None);
    assert!(cache.get_key(&id).unwrap().is_some());
    let hit = without_blocking(|| cache.get_key(&id).unwrap().map(|k| k.key_id));
    assert_eq!(hit, Some(Some(id)));
}

#[test]
fn the_cache_is_bounded() {
    let inner = Arc::new(MemoryStore::default());
    let cache = CachedStore::new(inner.clone(), 16);
    cache.apply(FeedEvent::Resumed);
    for n in 0..200 {
        let k = key(7, &format!("k{n}"), n);
        inner.create_key(&k, 1000).unwrap();
        cache.get_key(&k.key_id).unwrap();
    }
    assert!(cache.figures().entries <= 16, "{:?}", cache.figures());
}

#[test]
fn the_cache_keeps_the_store_contract() {
    crate::store::contract::check(|| {
        let cache = CachedStore::new(Arc::new(MemoryStore::default()), 64);
        cache.apply(FeedEvent::Resumed);
        cache
    });
}

#[test]
fn a_sole_writers_cache_serves_its_reads_and_follows_its_writes() {
    let inner = Arc::new(MemoryStore::default());
    let cache = CachedStore::sole_writer(inner.clone(), 64);
    let k = key(7, "a", 1);
    cache.create_key(&k, 100).unwrap();
    assert!(cache.figures().trusted, "no feed to wait for");
    // A miss reads the local store even where blocking is refused; a hit after it.
    let read = without_blocking(|| cache.get_key(&k.key_id).unwrap().map(|k| k.description));
    assert_eq!(read, Some(Some(String::new())));
    assert_eq!(description(&cache, k.key_id), "");
    assert_eq!((cache.figures().misses, cache.figures().hits), (1, 1));
    // Its own write is read at once; a write is still no work for a thread that must not block.
    renamed(&cache, k.key_id, "renamed");
    assert_eq!(description(&cache, k.key_id), "renamed");
    let mut next = cache.get_key(&k.key_id).unwrap().unwrap();
    next.revision += 1;
    assert_eq!(
        without_blocking(|| cache.update_keys(std::slice::from_ref(&next), 100).is_ok()),
        None
    );
    assert_eq!(
        without_blocking(|| cache
            .list_keys(7, "ap-guangzhou", &KeyListFilter::default())
            .unwrap()
            .total),
        Some(1),
        "reads of every kind run inline"
    );
}

#[test]
fn a_sole_writers_cache_keeps_the_store_contract() {
    crate::store::contract::check(|| {
        CachedStore::sole_writer(Arc::new(MemoryStore::default()), 64)
    });
}

#[test]
fn a_sole_writers_cache_never_answers_older_than_an_acknowledged_write() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let cache = CachedStore::sole_writer(Arc::new(MemoryStore::default()), 64);
    let k = key(7, "a", 1);
    cache.create_key(&k, 100).unwrap();
    let acknowledged = AtomicU64::new(k.revision);
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..500 {
                let mut next = cache.get_key(&k.key_id).unwrap().unwrap();
                next.revision += 1;
                cache.update_keys(std::slice::from_ref(&next), 100).unwrap();
                acknowledged.store(next.revision, Ordering::SeqCst);
            }
        });
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..3_000 {
                    let floor = acknowledged.load(Ordering::SeqCst);
                    let seen = cache.get_key(&k.key_id).unwrap().unwrap().revision;
                    assert!(
                        seen >= floor,
                        "read revision {seen} after {floor} was acknowledged"
                    );
                }
            });
        }
    });
    assert_eq!(
        cache.get_key(&k.key_id).unwrap().unwrap().revision,
        k.revision + 500
    );
}
