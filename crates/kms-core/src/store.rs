//! The storage contract the engine needs. Implementations: embedded (redb) and PostgreSQL.
//!
//! Every method is one atomic, durable transaction: when it returns `Ok`, the write survives a
//! crash. Uniqueness and limits are enforced inside the transaction, never read-then-write.
//!
//! Listings are filtered, ordered and paged by the store, which serves them from indexes: each
//! record has index terms ([`Indexed::terms`], one per filter dimension and value), and a
//! filter becomes groups of terms ([`ListQuery::term_groups`]) that a record must meet.

use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::grants::GrantRecord;
use crate::identity::Identity;
use crate::model::{
    Account, AccountId, Alias, DataKeyRecord, DataKeyState, KeyRecord, KeySpec, KeyState, KeyUsage,
    Origin, Tag,
};

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("name (alias) already in use")]
    NameTaken,
    #[error("limit reached")]
    LimitReached,
    #[error("record changed concurrently")]
    Conflict,
    #[error("record already exists")]
    AlreadyExists,
    #[error("storage backend failure: {0}")]
    Backend(String),
    /// The backend cannot be reached, or kept failing in ways that pass (a lost connection, a
    /// failover, serialization failures) after the bounded retries: the caller may try again.
    #[error("storage backend unavailable: {0}")]
    Unavailable(String),
}

/// One stored item, as [`Store::export`] hands it out and [`Store::import`] takes it back:
/// together they move everything a store holds into another (`kmsd store copy`).
/// No Debug: the identity document holds sealed secrets and password hashes.
#[derive(Clone, Serialize, serde::Deserialize)]
pub enum Record {
    Account(Account),
    /// A secret id reserved by an account or a credential, kept after the credential is
    /// deleted so the id never returns with another secret.
    SecretId {
        secret_id: String,
        account: AccountId,
    },
    Identity(Identity),
    Key(KeyRecord),
    DataKey(DataKeyRecord),
    Grant(GrantRecord),
    /// A value of the store itself ([`Store::setting`]).
    Setting {
        name: String,
        value: Vec<u8>,
    },
}

/// The name of the setting that holds the root key's check value.
pub const ROOT_KEY_CHECK: &str = "root_key_check";
/// The setting that holds the root keyring (its root keys by generation), wrapped by the root of
/// trust. Absent from a key-file store whose file's key seals records directly (generation 0).
pub const ROOT_KEYRING: &str = "root_keyring";

/// Listing order: by creation time, ties broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// Which keys a listing returns, and which page of them.
#[derive(Debug, Clone, Default)]
pub struct KeyListFilter {
    /// Only keys in one of these states; `None` for every state.
    pub states: Option<Vec<KeyState>>,
    pub origin: Option<Origin>,
    pub usages: Option<Vec<KeyUsage>>,
    pub specs: Option<Vec<KeySpec>>,
    /// Substring of the key id or of any of its names ([`KeyRecord::names`]).
    pub search: Option<String>,
    /// Each tag key must be present, with one of the values when any are given.
    pub tags: Vec<(String, Vec<String>)>,
    pub hsm_cluster: Option<HsmClusterFilter>,
    pub order: SortOrder,
    pub offset: usize,
    pub limit: usize,
}

/// Which records a listing takes by where their material lives (Tencent's `HsmClusterId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HsmClusterFilter {
    /// Outside every HSM cluster: in the service's software provider.
    Shared,
    /// In this HSM cluster.
    Cluster(String),
}

impl HsmClusterFilter {
    fn matches(&self, hsm_cluster: Option<&str>) -> bool {
        match self {
            HsmClusterFilter::Shared => hsm_cluster.is_none(),
            HsmClusterFilter::Cluster(id) => hsm_cluster == Some(id.as_str()),
        }
    }

    /// The index term of the records this filter takes.
    fn term(&self) -> String {
        match self {
            HsmClusterFilter::Shared => hsm_cluster_term(None),
            HsmClusterFilter::Cluster(id) => hsm_cluster_term(Some(id)),
        }
    }
}

/// The index term of a record's HSM cluster, `None` for the shared service. It is a group of
/// its own beside a filter's tuple: listing by cluster is rare, so tuples stay as they were.
fn hsm_cluster_term(hsm_cluster: Option<&str>) -> String {
    term("hsm_cluster", &hsm_cluster)
}

/// Which data keys a listing returns, and which page of them.
#[derive(Debug, Clone, Default)]
pub struct DataKeyListFilter {
    pub states: Option<Vec<DataKeyState>>,
    pub origin: Option<Origin>,
    pub key_id: Option<Uuid>,
    pub length: Option<u32>,
    /// Substring of the data key id or name.
    pub search: Option<String>,
    pub tags: Vec<(String, Vec<String>)>,
    pub hsm_cluster: Option<HsmClusterFilter>,
    pub order: SortOrder,
    pub offset: usize,
    pub limit: usize,
}

/// One page of a listing and the number of all matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    pub total: u64,
    pub page: Vec<T>,
}

impl Listed<(Uuid, Alias)> {
    /// What [`Store::list_aliases`] answers for one key: its aliases in name order, paged;
    /// nothing when the key is missing or outside (account, region).
    pub fn aliases_of_key(
        key: Option<KeyRecord>,
        account: AccountId,
        region: &str,
        offset: usize,
        limit: usize,
    ) -> Self {
        let Some(key) = key.filter(|k| k.account == account && k.region == region) else {
            return Listed {
                total: 0,
                page: Vec::new(),
            };
        };
        let mut aliases = key.aliases;
        aliases.sort_by(|a, b| a.name.cmp(&b.name));
        Listed {
            total: aliases.len() as u64,
            page: aliases
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|a| (key.key_id, a))
                .collect(),
        }
    }
}

/// Index terms of one filter dimension that a record may meet: any one of `terms`. No record
/// holds two of a group's terms (a record has one state, one tuple, one value of a tag key),
/// so the group's size is the sum of its terms' counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermGroup {
    pub terms: Vec<String>,
}

impl TermGroup {
    fn single_valued<T: std::fmt::Debug>(dimension: &str, values: &[T]) -> Self {
        Self {
            terms: dedup(values.iter().map(|v| term(dimension, v)).collect()),
        }
    }
}

/// The index term of `value` in `dimension` (its Debug text). Stores persist terms, so a change
/// to any term's text needs a store to rebuild its indexes (the embedded store's index version).
fn term<T: std::fmt::Debug>(dimension: &str, value: &T) -> String {
    format!("{dimension}\0{value:?}")
}

/// The index term of a tag key (present with any value).
fn tag_term(key: &str) -> String {
    format!("tag\0{key}")
}

/// What every index term of a tag key with one value starts with.
pub const TAG_VALUE_TERM_PREFIX: &str = "tagv\0";

/// The index term of a tag key with one value; the key's length keeps `(a, bc)` and `(ab, c)`
/// apart.
fn tag_value_term(key: &str, value: &str) -> String {
    format!("{TAG_VALUE_TERM_PREFIX}{}\0{key}{value}", key.len())
}

/// The tag an index term of a tag key with one value names (the inverse of `tag_value_term`).
pub fn tag_of_term(term: &str) -> Option<Tag> {
    let (len, rest) = term.strip_prefix(TAG_VALUE_TERM_PREFIX)?.split_once('\0')?;
    let (key, value) = rest.split_at_checked(len.parse().ok()?)?;
    Some(Tag {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

fn tag_terms(tags: &[Tag]) -> impl Iterator<Item = String> {
    tags.iter()
        .flat_map(|t| [tag_term(&t.key), tag_value_term(&t.key, &t.value)])
}

fn tag_groups(filters: &[(String, Vec<String>)]) -> impl Iterator<Item = TermGroup> {
    filters.iter().map(|(key, values)| {
        if values.is_empty() {
            TermGroup {
                terms: vec![tag_term(key)],
            }
        } else {
            // A record carries each tag key once (the engine refuses repeated tag keys), so
            // no record holds two values of one key.
            TermGroup {
                terms: dedup(values.iter().map(|v| tag_value_term(key, v)).collect()),
            }
        }
    })
}

/// The index term of a record's whole tuple of small dimensions (a key's state, origin,
/// usage and spec; a data key's state and origin, with its CMK and length or not). Each
/// dimension has few values, so a filter on several of them expands to a bounded set of
/// tuples, each with its own ordered index and count: the total is a sum of counters and the
/// page a merge of a bounded number of indexes, however many records the scope holds.
fn tuple_term<T: std::fmt::Debug>(tuple: &T) -> String {
    term("tuple", tuple)
}

/// The index term of a tuple (a [`tuple_term`]) together with one tag term, so a tag filter
/// combined with small-dimension filters is one group of terms as well. The tuple term holds
/// one NUL, this one more: they cannot meet.
fn tuple_tag_term(tuple: &str, tag: &str) -> String {
    format!("{tuple}\0{tag}")
}

/// Every term of a record's tags, alone and with the record's `tuple` term.
fn tag_terms_with_tuple(tags: &[Tag], tuple: &str) -> Vec<String> {
    tag_terms(tags)
        .flat_map(|t| [tuple_tag_term(tuple, &t), t])
        .collect()
}

/// The groups of a filter of small dimensions (`tuples`, the tuple terms it takes) and tags:
/// the tuples as one group, or, with tags, the first tag filter's terms paired with each tuple
/// as one group and any further tag filter as a group of its own.
fn tuple_groups(tuples: Vec<String>, tags: &[(String, Vec<String>)]) -> Vec<TermGroup> {
    let mut groups: Vec<TermGroup> = tag_groups(tags).collect();
    if groups.is_empty() {
        groups.push(TermGroup {
            terms: dedup(tuples),
        });
    } else {
        let terms = tuples
            .iter()
            .flat_map(|tuple| groups[0].terms.iter().map(|t| tuple_tag_term(tuple, t)))
            .collect();
        groups[0] = TermGroup {
            terms: dedup(terms),
        };
    }
    groups
}

/// A key's small dimensions, the tuple its [`tuple_term`] names.
fn key_tuple(k: &KeyRecord) -> (KeyState, Origin, KeyUsage, KeySpec) {
    (k.state, k.origin, k.usage, k.spec)
}

/// A data key's tuples: state and origin, with its CMK, its length, both or neither, so a
/// filter on any of these is one tuple per (state, origin).
type DataKeyTuple = (DataKeyState, Origin, Option<Uuid>, Option<u32>);

fn data_key_tuples(dk: &DataKeyRecord) -> [DataKeyTuple; 4] {
    let (s, o, k, l) = (dk.state, dk.origin, Some(dk.key_id), Some(dk.length));
    [
        (s, o, None, None),
        (s, o, k, None),
        (s, o, None, l),
        (s, o, k, l),
    ]
}

/// Values of one small dimension a filter takes: the filter's own, or every value.
fn values_or_all<T: Copy>(filter: Option<&[T]>, all: &[T]) -> Vec<T> {
    filter.unwrap_or(all).to_vec()
}

fn hsm_cluster_group(filter: &HsmClusterFilter) -> TermGroup {
    TermGroup {
        terms: vec![filter.term()],
    }
}

/// Each filter's tag key must be present, with one of its values when any are given.
fn tags_match(tags: &[Tag], filters: &[(String, Vec<String>)]) -> bool {
    filters.iter().all(|(tag_key, values)| {
        tags.iter()
            .any(|t| &t.key == tag_key && (values.is_empty() || values.contains(&t.value)))
    })
}

/// A listing's filter as a store answers it.
pub trait ListQuery<R> {
    /// Groups of index terms a matching record meets every one of (one term of each group).
    /// Empty when the filter takes every record (but for `search`).
    fn term_groups(&self) -> Vec<TermGroup>;
    /// Substring of the record's id or of one of its names, which no B-tree index serves.
    fn search(&self) -> Option<&str>;
    fn order(&self) -> SortOrder;
    fn offset(&self) -> usize;
    fn limit(&self) -> usize;
    /// Whether `record` matches the whole filter, search included.
    fn matches(&self, record: &R) -> bool;
}

fn search_matches<'a>(id: Uuid, mut names: impl Iterator<Item = &'a str>, search: &str) -> bool {
    id.to_string().contains(search) || names.any(|n| n.contains(search))
}

impl KeyListFilter {
    /// The tuple terms ([`key_tuple`]) a key matching the filter's states, origin,
    /// usages and specs may have: only (usage, spec) pairs that exist ([`KeyUsage::allows`]),
    /// so at most 5 states × 2 origins × the pairs, and as many as the filter names otherwise.
    fn tuple_terms(&self) -> Vec<String> {
        let states = values_or_all(self.states.as_deref(), &KeyState::ALL);
        let origins = values_or_all(self.origin.as_ref().map(std::slice::from_ref), &Origin::ALL);
        let usages = values_or_all(self.usages.as_deref(), &KeyUsage::ALL);
        let specs = values_or_all(self.specs.as_deref(), &KeySpec::ALL);
        let mut terms = Vec::new();
        for &state in &states {
            for &origin in &origins {
                for &usage in &usages {
                    for &spec in specs.iter().filter(|s| usage.allows(**s)) {
                        terms.push(tuple_term(&(state, origin, usage, spec)));
                    }
                }
            }
        }
        terms
    }
}

impl ListQuery<KeyRecord> for KeyListFilter {
    fn term_groups(&self) -> Vec<TermGroup> {
        let mut groups = Vec::new();
        if let Some(states) = &self.states {
            groups.push(TermGroup::single_valued("state", states));
        }
        if let Some(origin) = &self.origin {
            groups.push(TermGroup::single_valued(
                "origin",
                std::slice::from_ref(origin),
            ));
        }
        match (&self.usages, &self.specs) {
            // A usage with its specs (Tencent's KeyUsage, which ListKeyDetail sends by
            // default) is one group of the records' (usage, spec) terms: one index read in
            // order and a total from counters, instead of a walk of one index checked
            // against the other.
            (Some(usages), Some(specs)) => {
                let pairs: Vec<(KeyUsage, KeySpec)> = usages
                    .iter()
                    .flat_map(|u| specs.iter().map(move |s| (*u, *s)))
                    .collect();
                groups.push(TermGroup::single_valued("usage_spec", &pairs));
            }
            (usages, specs) => {
                if let Some(usages) = usages {
                    groups.push(TermGroup::single_valued("usage", usages));
                }
                if let Some(specs) = specs {
                    groups.push(TermGroup::single_valued("spec", specs));
                }
            }
        }
        // Several small dimensions, or one with tags: one group of whole tuples.
        if groups.len() > 1 || (!groups.is_empty() && !self.tags.is_empty()) {
            groups = tuple_groups(self.tuple_terms(), &self.tags);
        } else {
            groups.extend(tag_groups(&self.tags));
        }
        groups.extend(self.hsm_cluster.as_ref().map(hsm_cluster_group));
        groups
    }
    fn search(&self) -> Option<&str> {
        self.search.as_deref()
    }
    fn order(&self) -> SortOrder {
        self.order
    }
    fn offset(&self) -> usize {
        self.offset
    }
    fn limit(&self) -> usize {
        self.limit
    }
    fn matches(&self, key: &KeyRecord) -> bool {
        self.states.as_ref().is_none_or(|s| s.contains(&key.state))
            && self.origin.is_none_or(|o| o == key.origin)
            && self.usages.as_ref().is_none_or(|u| u.contains(&key.usage))
            && self.specs.as_ref().is_none_or(|s| s.contains(&key.spec))
            && self
                .search
                .as_deref()
                .is_none_or(|s| search_matches(key.key_id, key.names(), s))
            && tags_match(&key.tags, &self.tags)
            && self
                .hsm_cluster
                .as_ref()
                .is_none_or(|c| c.matches(key.hsm_cluster.as_deref()))
    }
}

impl DataKeyListFilter {
    /// The tuple terms ([`data_key_tuples`]) a data key matching the filter's states,
    /// origin, CMK and length may have: at most 3 states × 2 origins.
    fn tuple_terms(&self) -> Vec<String> {
        let states = values_or_all(self.states.as_deref(), &DataKeyState::ALL);
        let origins = values_or_all(self.origin.as_ref().map(std::slice::from_ref), &Origin::ALL);
        let mut terms = Vec::new();
        for &state in &states {
            for &origin in &origins {
                terms.push(tuple_term(&(state, origin, self.key_id, self.length)));
            }
        }
        terms
    }
}

impl ListQuery<DataKeyRecord> for DataKeyListFilter {
    fn term_groups(&self) -> Vec<TermGroup> {
        let mut groups = Vec::new();
        if let Some(states) = &self.states {
            groups.push(TermGroup::single_valued("state", states));
        }
        if let Some(origin) = &self.origin {
            groups.push(TermGroup::single_valued(
                "origin",
                std::slice::from_ref(origin),
            ));
        }
        if let Some(key_id) = &self.key_id {
            groups.push(TermGroup::single_valued(
                "key_id",
                std::slice::from_ref(key_id),
            ));
        }
        if let Some(length) = &self.length {
            groups.push(TermGroup::single_valued(
                "length",
                std::slice::from_ref(length),
            ));
        }
        // Several dimensions, or one with tags: one group of tuples.
        if groups.len() > 1 || (!groups.is_empty() && !self.tags.is_empty()) {
            groups = tuple_groups(self.tuple_terms(), &self.tags);
        } else {
            groups.extend(tag_groups(&self.tags));
        }
        groups.extend(self.hsm_cluster.as_ref().map(hsm_cluster_group));
        groups
    }
    fn search(&self) -> Option<&str> {
        self.search.as_deref()
    }
    fn order(&self) -> SortOrder {
        self.order
    }
    fn offset(&self) -> usize {
        self.offset
    }
    fn limit(&self) -> usize {
        self.limit
    }
    fn matches(&self, dk: &DataKeyRecord) -> bool {
        self.states.as_ref().is_none_or(|s| s.contains(&dk.state))
            && self.origin.is_none_or(|o| o == dk.origin)
            && self.key_id.is_none_or(|k| k == dk.key_id)
            && self.length.is_none_or(|l| l == dk.length)
            && self.search.as_deref().is_none_or(|s| {
                search_matches(dk.data_key_id, std::iter::once(dk.name.as_str()), s)
            })
            && tags_match(&dk.tags, &self.tags)
            && self
                .hsm_cluster
                .as_ref()
                .is_none_or(|c| c.matches(dk.hsm_cluster.as_deref()))
    }
}

/// What a store needs to keep and index a record: keys and hosted data keys alike have an id,
/// a scope (account, region), names unique in the scope, a creation time for ordered listing,
/// index terms for filtered listing, a time when background work is due, and a revision for
/// compare-and-swap.
pub trait Indexed: Clone + Serialize + DeserializeOwned + Send + Sync {
    fn id(&self) -> Uuid;
    fn account(&self) -> AccountId;
    fn region(&self) -> &str;
    /// Every name the record reserves in its scope.
    fn unique_names(&self) -> Vec<&str>;
    /// The aliases listed by [`Store::list_aliases`] (a key's `aliases`, not its own alias).
    fn listed_aliases(&self) -> &[Alias];
    /// The index terms the record meets, one per filter dimension and value (see
    /// [`ListQuery::term_groups`]), without repeats.
    fn terms(&self) -> Vec<String>;
    fn created_at(&self) -> u64;
    fn due_time(&self) -> Option<u64>;
    fn revision(&self) -> u64;
    /// Whether the record counts toward its scope's limit: records scheduled for deletion do
    /// not, as the vendor counts them.
    fn counts_toward_limit(&self) -> bool;
}

/// `terms` sorted, each once.
fn dedup(mut terms: Vec<String>) -> Vec<String> {
    terms.sort_unstable();
    terms.dedup();
    terms
}

impl Indexed for KeyRecord {
    fn id(&self) -> Uuid {
        self.key_id
    }
    fn account(&self) -> AccountId {
        self.account
    }
    fn region(&self) -> &str {
        &self.region
    }
    fn unique_names(&self) -> Vec<&str> {
        self.names().collect()
    }
    fn listed_aliases(&self) -> &[Alias] {
        &self.aliases
    }
    fn terms(&self) -> Vec<String> {
        let mut terms = vec![
            term("state", &self.state),
            term("origin", &self.origin),
            term("usage", &self.usage),
            term("spec", &self.spec),
            term("usage_spec", &(self.usage, self.spec)),
            hsm_cluster_term(self.hsm_cluster.as_deref()),
        ];
        let tuple = tuple_term(&key_tuple(self));
        terms.extend(tag_terms_with_tuple(&self.tags, &tuple));
        terms.push(tuple);
        dedup(terms)
    }
    fn created_at(&self) -> u64 {
        self.created_at
    }
    fn due_time(&self) -> Option<u64> {
        self.next_due_time()
    }
    fn revision(&self) -> u64 {
        self.revision
    }
    fn counts_toward_limit(&self) -> bool {
        self.state != KeyState::PendingDelete
    }
}

impl Indexed for DataKeyRecord {
    fn id(&self) -> Uuid {
        self.data_key_id
    }
    fn account(&self) -> AccountId {
        self.account
    }
    fn region(&self) -> &str {
        &self.region
    }
    fn unique_names(&self) -> Vec<&str> {
        vec![self.name.as_str()]
    }
    fn listed_aliases(&self) -> &[Alias] {
        &[]
    }
    fn terms(&self) -> Vec<String> {
        let mut terms = vec![
            term("state", &self.state),
            term("origin", &self.origin),
            term("key_id", &self.key_id),
            term("length", &self.length),
            hsm_cluster_term(self.hsm_cluster.as_deref()),
        ];
        for tuple in data_key_tuples(self).map(|t| tuple_term(&t)) {
            terms.extend(tag_terms_with_tuple(&self.tags, &tuple));
            terms.push(tuple);
        }
        dedup(terms)
    }
    fn created_at(&self) -> u64 {
        self.created_at
    }
    fn due_time(&self) -> Option<u64> {
        self.next_due_time()
    }
    fn revision(&self) -> u64 {
        self.revision
    }
    fn counts_toward_limit(&self) -> bool {
        self.state != DataKeyState::PendingDelete
    }
}

pub trait Store: Send + Sync {
    /// Inserts a new key, reserving its names (own alias and aliases) within (account, region), and refusing when the
    /// region already holds `max_keys` keys of the account (not counting those pending deletion).
    fn create_key(&self, key: &KeyRecord, max_keys: u64) -> Result<(), StoreError>;

    fn get_key(&self, key_id: &Uuid) -> Result<Option<KeyRecord>, StoreError>;

    /// Replaces a key whose stored revision is `key.revision - 1`; moves its names if they changed.
    /// Refuses with `LimitReached` when the change makes the key count toward the limit again
    /// (a cancelled deletion) and the region already holds `max_keys` keys that count.
    fn update_key(&self, key: &KeyRecord, max_keys: u64) -> Result<(), StoreError> {
        self.update_keys(std::slice::from_ref(key), max_keys)
    }

    /// [`Store::update_key`] for several keys in one transaction: every one is written, or, if
    /// any is refused (a stale revision, an alias in use, the limit), none is.
    fn update_keys(&self, keys: &[KeyRecord], max_keys: u64) -> Result<(), StoreError>;

    /// Removes a key whose stored revision is `key.revision`, freeing its names and removing
    /// its grants.
    fn delete_key(&self, key: &KeyRecord) -> Result<(), StoreError>;

    /// The keys of (account, region) that match `filter`: how many match, and the page at
    /// `filter.offset` of at most `filter.limit` of them in the filter's order (creation time,
    /// ties by id). Served by indexes: with any combination of filters but two tag filters, a
    /// page costs the same however many keys the scope holds (several small dimensions are one
    /// group of tuple terms); two tag filters cost a walk of the more selective one's index to
    /// count the total. A substring matches no B-tree, so a `search` walks the scope's names
    /// (and ids, when the text could be part of one): its cost grows with the scope's names.
    fn list_keys(
        &self,
        account: AccountId,
        region: &str,
        filter: &KeyListFilter,
    ) -> Result<Listed<KeyRecord>, StoreError>;

    /// The key that holds `name` (its own alias or one of its aliases) in (account, region).
    fn key_by_name(
        &self,
        account: AccountId,
        region: &str,
        name: &str,
    ) -> Result<Option<Uuid>, StoreError>;

    /// The aliases (entries of [`KeyRecord::aliases`], not a key's own alias) of (account,
    /// region), or of one key of it, in name order: how many there are and the page at
    /// `offset` of at most `limit`.
    fn list_aliases(
        &self,
        account: AccountId,
        region: &str,
        key_id: Option<Uuid>,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<(Uuid, Alias)>, StoreError>;

    /// Keys of (account, region) that count toward the limit.
    fn count_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError>;

    /// Every distinct tag (key and value) the keys of (account, region) carry. This default
    /// reads every key of the scope; a store with a tag index answers from it.
    fn key_tags(&self, account: AccountId, region: &str) -> Result<Vec<Tag>, StoreError> {
        const PAGE: usize = 1000;
        let mut tags = std::collections::BTreeSet::new();
        let mut filter = KeyListFilter {
            order: SortOrder::OldestFirst,
            limit: PAGE,
            ..KeyListFilter::default()
        };
        loop {
            let listed = self.list_keys(account, region, &filter)?;
            let last = listed.page.len() < PAGE;
            for key in listed.page {
                tags.extend(key.tags.into_iter().map(|t| (t.key, t.value)));
            }
            if last {
                break;
            }
            filter.offset += PAGE;
        }
        Ok(tags
            .into_iter()
            .map(|(key, value)| Tag { key, value })
            .collect())
    }

    /// Keys whose [`KeyRecord::next_due_time`] is at or before `now`, at most `limit` of them.
    fn due_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError>;

    /// Inserts a hosted data key, reserving its name within (account, region), and refusing
    /// when the region already holds `max` data keys of the account.
    fn create_data_key(&self, data_key: &DataKeyRecord, max: u64) -> Result<(), StoreError>;

    fn get_data_key(&self, data_key_id: &Uuid) -> Result<Option<DataKeyRecord>, StoreError>;

    /// Replaces a data key whose stored revision is `data_key.revision - 1`; refuses with
    /// `LimitReached` when the change makes it count toward a limit of `max` that is reached.
    fn update_data_key(&self, data_key: &DataKeyRecord, max: u64) -> Result<(), StoreError> {
        self.update_data_keys(std::slice::from_ref(data_key), max)
    }

    /// [`Store::update_data_key`] for several data keys in one transaction: all or none.
    fn update_data_keys(&self, data_keys: &[DataKeyRecord], max: u64) -> Result<(), StoreError>;

    /// Removes a data key whose stored revision is `data_key.revision`, freeing its name.
    fn delete_data_key(&self, data_key: &DataKeyRecord) -> Result<(), StoreError>;

    /// As [`Store::list_keys`], for hosted data keys.
    fn list_data_keys(
        &self,
        account: AccountId,
        region: &str,
        filter: &DataKeyListFilter,
    ) -> Result<Listed<DataKeyRecord>, StoreError>;

    /// Data keys of (account, region) that count toward the limit.
    fn count_data_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError>;

    /// Data keys whose purge is due at or before `now`, at most `limit` of them.
    fn due_data_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError>;

    /// Overwrites the store's free space, so a secret erased from a record (sealed material of
    /// a deleted key, or imported material deleted or expired) lingers in no earlier copy. Every
    /// erasure committed before the call is covered. Costs time in proportion to the store's
    /// size and leaves the file no larger than it found it: the engine runs it in the
    /// background, once for all the erasures since the last one (`Engine::run_owed_scrub`).
    fn scrub(&self) -> Result<(), StoreError>;

    /// Inserts a grant on its key, refusing with `LimitReached` when the key already holds
    /// `max` grants and with `AlreadyExists` when the key has a grant of that id.
    fn create_grant(&self, grant: &GrantRecord, max: u64) -> Result<(), StoreError>;

    /// Every grant of a key, oldest first (ties by grant id).
    fn key_grants(&self, key_id: &Uuid) -> Result<Vec<GrantRecord>, StoreError>;

    /// Removes one grant of a key; whether it was there.
    fn delete_grant(&self, key_id: &Uuid, grant_id: &str) -> Result<bool, StoreError>;

    /// The grants in `region` whose retiring principal is `principal`, oldest first (ties by
    /// grant id): how many there are and the page at `offset` of at most `limit`.
    fn retirable_grants(
        &self,
        region: &str,
        principal: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<GrantRecord>, StoreError>;

    /// The most grants any one key of (account, region) holds (0 when none has any). Walks
    /// every grant of the store's grant table: for quota reports, not for request paths that
    /// run often.
    fn most_grants_on_a_key(&self, account: AccountId, region: &str) -> Result<u64, StoreError>;

    /// Inserts an account; `AlreadyExists` if its uin, secret id or project id is taken.
    fn create_account(&self, account: &Account) -> Result<(), StoreError>;

    fn accounts(&self) -> Result<Vec<Account>, StoreError>;

    /// The users, credentials, policies and account states ([`Identity`]); an empty one at
    /// revision 0 in a store that never had one.
    fn identity(&self) -> Result<Identity, StoreError>;

    /// Writes `next` as revision `expected + 1` if the stored identity is still at `expected`
    /// (`Conflict` otherwise), and in the same transaction reserves the secret id of every
    /// credential `next` adds: `AlreadyExists` if an account or another credential ever used
    /// it. Secret ids are never released, so a deleted credential's id cannot return with
    /// another secret.
    fn replace_identity(&self, expected: u64, next: &Identity) -> Result<(), StoreError>;

    /// Reserves a secret id for `account` as a credential would ([`Store::replace_identity`]):
    /// nothing to do when `account` holds it already, `AlreadyExists` when another account
    /// does. Used to import reservations.
    fn reserve_secret_id(&self, secret_id: &str, account: AccountId) -> Result<(), StoreError>;

    /// A value of the store itself, such as the root key's check value ([`ROOT_KEY_CHECK`]).
    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` under `name` unless a value is there already, in one transaction, and
    /// answers the value stored afterwards: the first writer wins, every other one learns what
    /// won.
    fn init_setting(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// Replaces the value under `name` with `value` if it is still `expected` (`None`: no value),
    /// in one transaction; `Conflict` otherwise. A root key rotation moves the keyring with it.
    fn replace_setting(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<(), StoreError>;

    /// Replaces the sealed secret key of an account's original credential, leaving the rest of
    /// the account as it is (a root key rotation seals it again). `Conflict` if no such account.
    fn reseal_account(&self, uin: AccountId, sealed_secret_key: &[u8]) -> Result<(), StoreError>;

    /// Hands every stored item to `each`: accounts first, then the identity document (when
    /// one was ever written), secret id reservations, settings, keys, data keys and grants. Sealed values stay sealed.
    fn export(
        &self,
        each: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Writes one exported item as it was (revisions kept, limits not applied): for filling an
    /// empty store from another, in [`Store::export`]'s order.
    fn import(&self, record: &Record) -> Result<(), StoreError> {
        match record {
            Record::Account(account) => self.create_account(account),
            Record::SecretId { secret_id, account } => self.reserve_secret_id(secret_id, *account),
            Record::Identity(identity) => {
                let current = self.identity()?;
                self.replace_identity(current.revision, identity)
            }
            Record::Key(key) => self.create_key(key, u64::MAX),
            Record::DataKey(data_key) => self.create_data_key(data_key, u64::MAX),
            Record::Grant(grant) => self.create_grant(grant, u64::MAX),
            Record::Setting { name, value } => {
                if self.init_setting(name, value)? == *value {
                    Ok(())
                } else {
                    Err(StoreError::AlreadyExists)
                }
            }
        }
    }

    /// Whether the store holds nothing: no account and no identity document.
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.accounts()?.is_empty() && self.identity()?.revision == 0)
    }
}

pub mod cached;
#[cfg(any(test, feature = "testing"))]
pub mod contract;
pub mod feed;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_terms_name_their_tags() {
        for (key, value) in [
            ("team", "a"),
            ("a", "bc"),
            ("ab", "c"),
            ("k", ""),
            ("键", "值\0x"),
        ] {
            let tag = tag_of_term(&tag_value_term(key, value)).unwrap();
            assert_eq!((tag.key.as_str(), tag.value.as_str()), (key, value));
        }
        assert_eq!(tag_of_term(&tag_term("team")), None);
        assert_eq!(tag_of_term("tagv\09\0short"), None);
        assert_eq!(tag_of_term("tagv\0x\0k"), None);
    }
}
