//! Filtered, ordered, paged listings served by the indexes of [`Tables`].
//!
//! Query plan: with no filter, the scope's creation-order index, and the count of all records
//! for the total. With filters, the term index of the most selective group (the smallest sum of
//! term counts) in creation order, merged over the group's terms. The filters the dialects send
//! are one group (several small dimensions become one group of whole tuples, a tag with them one
//! group of tuple-and-tag terms: [`ListQuery::term_groups`]): the total is the sum of its
//! counts and the offset is skipped over index entries, so the page costs the same however many
//! records the scope holds. Two tag filters are two groups: every other group is checked by a
//! point lookup of (term, created at, id) in the term index (no record is loaded to filter, only
//! the page) and counting the total walks the chosen group's entries. A search (substring of an
//! id or name) matches no B-tree order: it walks all the scope's names (no record loads), and
//! its creation-order index too when the text could be part of an id (hex digits and hyphens
//! only), so its cost grows with the number of names (and keys) in the scope.

use std::collections::BTreeSet;

use redb::ReadOnlyTable;
use uuid::Uuid;

use kms_core::store::{
    Indexed, ListQuery, Listed, SortOrder, TAG_VALUE_TERM_PREFIX, TermGroup, tag_of_term,
};
use kms_core::{AccountId, Alias, StoreError, Tag};

use super::{ALIASES, ALL, EmbeddedStore, Tables, backend, decode};

/// An index entry: (created at, id).
type Entry = (u64, u128);

type EntryIter<'a> = Box<dyn Iterator<Item = Result<Entry, StoreError>> + 'a>;

/// Several index ranges, each in the listing's order, merged into one in that order without
/// repeats.
struct Merged<'a> {
    sources: Vec<std::iter::Peekable<EntryIter<'a>>>,
    newest_first: bool,
    last: Option<Entry>,
}

impl Iterator for Merged<'_> {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut best: Option<(usize, Entry)> = None;
            for (i, source) in self.sources.iter_mut().enumerate() {
                match source.peek() {
                    None => {}
                    Some(Err(_)) => return source.next(),
                    Some(Ok(entry)) => {
                        let better = best.is_none_or(|(_, b)| {
                            if self.newest_first {
                                *entry > b
                            } else {
                                *entry < b
                            }
                        });
                        if better {
                            best = Some((i, *entry));
                        }
                    }
                }
            }
            let (i, entry) = best?;
            self.sources[i].next();
            if self.last != Some(entry) {
                self.last = Some(entry);
                return Some(Ok(entry));
            }
        }
    }
}

/// The tables one listing reads, in one read transaction.
struct Reader<'t> {
    records: ReadOnlyTable<u128, &'static [u8]>,
    names: ReadOnlyTable<(u64, &'static str, &'static str), (u64, u128)>,
    scope: ReadOnlyTable<(u64, &'static str, u64, u128), ()>,
    terms: ReadOnlyTable<(u64, &'static str, &'static str, u64, u128), ()>,
    term_counts: ReadOnlyTable<(u64, &'static str, &'static str), u64>,
    account: AccountId,
    region: &'t str,
    newest_first: bool,
}

impl<'t> Reader<'t> {
    fn count(&self, term: &str) -> Result<u64, StoreError> {
        let found = self
            .term_counts
            .get((self.account, self.region, term))
            .map_err(backend)?;
        Ok(found.map_or(0, |v| v.value()))
    }

    fn group_size(&self, group: &TermGroup) -> Result<u64, StoreError> {
        group
            .terms
            .iter()
            .try_fold(0u64, |sum, t| Ok(sum.saturating_add(self.count(t)?)))
    }

    fn ordered<I>(&self, range: I) -> EntryIter<'t>
    where
        I: DoubleEndedIterator<Item = Result<Entry, StoreError>> + 't,
    {
        if self.newest_first {
            Box::new(range.rev())
        } else {
            Box::new(range)
        }
    }

    /// The scope's records in creation order.
    fn scope_entries(&self) -> Result<EntryIter<'t>, StoreError> {
        let (a, r) = (self.account, self.region);
        let range = self
            .scope
            .range((a, r, 0u64, 0u128)..=(a, r, u64::MAX, u128::MAX))
            .map_err(backend)?
            .map(|e| {
                let (k, _) = e.map_err(backend)?;
                let (_, _, created, id) = k.value();
                Ok((created, id))
            });
        Ok(self.ordered(range))
    }

    /// The scope's records meeting any term of `group`, in creation order.
    fn group_entries(&self, group: &TermGroup) -> Result<EntryIter<'t>, StoreError> {
        let (a, r) = (self.account, self.region);
        let mut sources = Vec::with_capacity(group.terms.len());
        for term in &group.terms {
            let range = self
                .terms
                .range(
                    (a, r, term.as_str(), 0u64, 0u128)..=(a, r, term.as_str(), u64::MAX, u128::MAX),
                )
                .map_err(backend)?
                .map(|e| {
                    let (k, _) = e.map_err(backend)?;
                    let (_, _, _, created, id) = k.value();
                    Ok((created, id))
                });
            sources.push(self.ordered(range).peekable());
        }
        Ok(Box::new(Merged {
            sources,
            newest_first: self.newest_first,
            last: None,
        }))
    }

    fn meets(&self, group: &TermGroup, (created, id): Entry) -> Result<bool, StoreError> {
        for term in &group.terms {
            let key = (self.account, self.region, term.as_str(), created, id);
            if self.terms.get(key).map_err(backend)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The scope's records with an id or a name containing `search`. Names are walked without
    /// loading records; ids only when `search` could be part of an id's text.
    fn searched(&self, search: &str) -> Result<BTreeSet<Entry>, StoreError> {
        let (a, r) = (self.account, self.region);
        let mut out = BTreeSet::new();
        for e in self.names.range((a, r, "")..).map_err(backend)? {
            let (k, v) = e.map_err(backend)?;
            let (account, region, name) = k.value();
            if account != a || region != r {
                break;
            }
            if name.contains(search) {
                out.insert(v.value());
            }
        }
        if search.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let mut text = Uuid::encode_buffer();
            for e in self.scope_entries()? {
                let (created, id) = e?;
                if Uuid::from_u128(id)
                    .hyphenated()
                    .encode_lower(&mut text)
                    .contains(search)
                {
                    out.insert((created, id));
                }
            }
        }
        Ok(out)
    }

    fn load<R: Indexed>(&self, ids: &[u128]) -> Result<Vec<R>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let found = self.records.get(*id).map_err(backend)?;
            let v = found.ok_or_else(|| backend("index entry without its record"))?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }
}

/// Counts the entries that meet every group, and loads the page of them at `offset`.
fn window<R: Indexed>(
    reader: &Reader<'_>,
    entries: EntryIter<'_>,
    groups: &[TermGroup],
    offset: usize,
    limit: usize,
) -> Result<Listed<R>, StoreError> {
    let mut total = 0u64;
    let mut page = Vec::new();
    'entries: for entry in entries {
        let entry = entry?;
        for g in groups {
            if !reader.meets(g, entry)? {
                continue 'entries;
            }
        }
        if total >= offset as u64 && page.len() < limit {
            page.push(entry.1);
        }
        total += 1;
    }
    Ok(Listed {
        total,
        page: reader.load(&page)?,
    })
}

impl EmbeddedStore {
    pub(super) fn list<R: Indexed>(
        &self,
        t: &Tables,
        account: AccountId,
        region: &str,
        query: &dyn ListQuery<R>,
    ) -> Result<Listed<R>, StoreError> {
        let txn = self.begin_read()?;
        let reader = Reader {
            records: txn.open_table(t.records).map_err(backend)?,
            names: txn.open_table(t.names).map_err(backend)?,
            scope: txn.open_table(t.scope).map_err(backend)?,
            terms: txn.open_table(t.terms).map_err(backend)?,
            term_counts: txn.open_table(t.term_counts).map_err(backend)?,
            account,
            region,
            newest_first: query.order() == SortOrder::NewestFirst,
        };
        let (offset, limit) = (query.offset(), query.limit());
        let mut groups = query.term_groups();
        if groups.iter().any(|g| g.terms.is_empty()) {
            return Ok(Listed {
                total: 0,
                page: Vec::new(),
            });
        }

        if let Some(search) = query.search() {
            let found = reader.searched(search)?;
            let entries: EntryIter<'_> = if reader.newest_first {
                Box::new(found.into_iter().rev().map(Ok))
            } else {
                Box::new(found.into_iter().map(Ok))
            };
            return window(&reader, entries, &groups, offset, limit);
        }

        let mut sizes = Vec::with_capacity(groups.len());
        for g in &groups {
            sizes.push(reader.group_size(g)?);
        }
        let driver = (0..groups.len())
            .min_by_key(|&i| sizes[i])
            .map(|i| (groups.remove(i), sizes[i]));
        let (entries, total) = match &driver {
            None => (reader.scope_entries()?, reader.count(ALL)?),
            Some((g, size)) => (reader.group_entries(g)?, *size),
        };
        if !groups.is_empty() {
            return window(&reader, entries, &groups, offset, limit);
        }
        let page = entries
            .skip(offset)
            .take(limit)
            .map(|e| e.map(|(_, id)| id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Listed {
            total,
            page: reader.load(&page)?,
        })
    }

    /// Every distinct tag of the scope's records, from the counts of their tag-and-value terms
    /// (a term's count is gone once no record meets it).
    pub(super) fn tags(
        &self,
        t: &Tables,
        account: AccountId,
        region: &str,
    ) -> Result<Vec<Tag>, StoreError> {
        let txn = self.begin_read()?;
        let counts = txn.open_table(t.term_counts).map_err(backend)?;
        let mut out = Vec::new();
        for e in counts
            .range((account, region, TAG_VALUE_TERM_PREFIX)..)
            .map_err(backend)?
        {
            let (k, _) = e.map_err(backend)?;
            let (a, r, term) = k.value();
            if a != account || r != region || !term.starts_with(TAG_VALUE_TERM_PREFIX) {
                break;
            }
            out.push(tag_of_term(term).ok_or_else(|| backend("malformed tag term"))?);
        }
        out.sort_unstable_by(|a, b| (&a.key, &a.value).cmp(&(&b.key, &b.value)));
        Ok(out)
    }

    pub(super) fn aliases(
        &self,
        t: &Tables,
        account: AccountId,
        region: &str,
        key_id: Option<Uuid>,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<(Uuid, Alias)>, StoreError> {
        let txn = self.begin_read()?;
        if let Some(key_id) = key_id {
            let records = txn.open_table(t.records).map_err(backend)?;
            let key = records
                .get(key_id.as_u128())
                .map_err(backend)?
                .map(|v| decode::<kms_core::KeyRecord>(v.value()))
                .transpose()?;
            return Ok(Listed::aliases_of_key(key, account, region, offset, limit));
        }
        let counts = txn.open_table(t.term_counts).map_err(backend)?;
        let total = counts
            .get((account, region, ALIASES))
            .map_err(backend)?
            .map_or(0, |v| v.value());
        let aliases = txn.open_table(t.aliases).map_err(backend)?;
        let mut page = Vec::new();
        for e in aliases
            .range((account, region, "")..)
            .map_err(backend)?
            .skip(offset)
        {
            let (k, v) = e.map_err(backend)?;
            let (a, r, name) = k.value();
            if a != account || r != region || page.len() >= limit {
                break;
            }
            let (id, created_at, updated_at) = v.value();
            page.push((
                Uuid::from_u128(id),
                Alias {
                    name: name.to_owned(),
                    created_at,
                    updated_at,
                },
            ));
        }
        Ok(Listed { total, page })
    }
}
