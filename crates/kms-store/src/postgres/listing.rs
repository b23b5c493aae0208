//! Filtered, ordered, paged listings from the term index, each one statement (one snapshot)
//! that answers the total and the page together.
//!
//! Plan, as the embedded store's: with no filter, the scope's creation-order index and the
//! count of all records. With one group of terms (every filter the dialects send but two tag
//! filters together: [`ListQuery::term_groups`]), the total is the sum of its term counts and
//! the page is the first `offset + limit` entries of each term's index, merged: a page costs the
//! same however many records the scope holds. Otherwise the index of the most selective group
//! (the smallest sum of counts, read first when there are several) is walked, the other groups
//! checked by index lookups, and the matches counted. A search (substring of an id or a name)
//! walks the scope's names, and its records' ids when the text could be part of one.

use postgres::types::ToSql;
use uuid::Uuid;

use kms_core::store::{
    Indexed, ListQuery, Listed, SortOrder, TAG_VALUE_TERM_PREFIX, TermGroup, tag_of_term,
};
use kms_core::{AccountId, Alias, KeyRecord, StoreError, Tag};

use super::pool::Fail;
use super::records::{ALIASES, ALL, Kind};
use super::{PgStore, acct, db_u64, decode};

/// Offsets and limits as SQL takes them, small enough that their sum cannot overflow.
fn bound(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX).min(i64::MAX / 4)
}

fn terms_param(group: &TermGroup) -> Vec<Vec<u8>> {
    group.terms.iter().map(|t| t.clone().into_bytes()).collect()
}

/// Checks that the entry `c` meets each of `groups` (one of its terms), the terms being
/// parameters from `$first` on, one each, as [`push_terms`] adds them. Every check is a lookup
/// of the whole primary key with the term a parameter. `OFFSET 0` keeps each `EXISTS` a
/// subplan: flattened into a join, a planner that believes the table small (statistics lag a
/// bulk load) drives from the term and looks `c` up without it, a scan of the whole scope per
/// entry (measured: 32 s for a page at 10,000 keys).
fn meets_all(t: &str, groups: &[TermGroup], first: usize) -> String {
    let mut next = first;
    groups
        .iter()
        .map(|g| {
            let any: Vec<String> = g
                .terms
                .iter()
                .map(|_| {
                    next += 1;
                    format!(
                        "EXISTS (SELECT 1 FROM {t}_terms x WHERE x.account = $1 \
                         AND x.region = $2 AND x.term = ${}::bytea \
                         AND x.created_at = c.created_at AND x.id = c.id OFFSET 0)",
                        next - 1
                    )
                })
                .collect();
            format!(" AND ({})", any.join(" OR "))
        })
        .collect()
}

/// The terms of `groups`, one parameter each, in [`meets_all`]'s order.
fn push_terms(params: &mut Vec<Box<dyn ToSql + Sync>>, groups: &[TermGroup]) {
    for g in groups {
        for term in &g.terms {
            params.push(Box::new(term.clone().into_bytes()));
        }
    }
}

/// The total and the page of matches `m` (a CTE of (created_at, id)), offset `$o`, limit `$l`.
fn total_and_page(t: &str, dir: &str, o: usize, l: usize) -> String {
    format!(
        "SELECT (SELECT count(*) FROM m), ARRAY(
            SELECT k.record FROM (SELECT * FROM m ORDER BY created_at {dir}, id {dir}
                                  OFFSET ${o} LIMIT ${l}) p
            JOIN {t} k ON k.id = p.id ORDER BY p.created_at {dir}, p.id {dir})"
    )
}

impl PgStore {
    pub(super) fn list_records<R: Indexed>(
        &self,
        kind: &Kind,
        account: AccountId,
        region: &str,
        query: &dyn ListQuery<R>,
    ) -> Result<Listed<R>, StoreError> {
        let mut groups = query.term_groups();
        if groups.iter().any(|g| g.terms.is_empty()) {
            return Ok(Listed {
                total: 0,
                page: Vec::new(),
            });
        }
        let t = kind.table;
        let dir = match query.order() {
            SortOrder::NewestFirst => "DESC",
            SortOrder::OldestFirst => "ASC",
        };
        let (account, region) = (acct(account), region.to_owned());
        let (offset, limit) = (bound(query.offset()), bound(query.limit()));
        self.read(|conn| {
            let mut params: Vec<Box<dyn ToSql + Sync>> =
                vec![Box::new(account), Box::new(region.clone())];
            let sql = if let Some(search) = query.search() {
                let could_be_id = search.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
                params.push(Box::new(search.as_bytes().to_vec()));
                params.push(Box::new(could_be_id));
                params.push(Box::new(if could_be_id {
                    search.to_ascii_lowercase()
                } else {
                    String::new()
                }));
                params.push(Box::new(offset));
                params.push(Box::new(limit));
                push_terms(&mut params, &groups);
                format!(
                    "WITH m AS MATERIALIZED (
                        SELECT c.created_at, c.id FROM (
                            SELECT created_at, id FROM {t}_names
                            WHERE account = $1 AND region = $2 AND position($3::bytea IN name) > 0
                            UNION
                            SELECT created_at, id FROM {t}
                            WHERE $4 AND account = $1 AND region = $2
                              AND strpos(id::text, $5::text) > 0
                        ) c WHERE true{})
                     {}",
                    meets_all(t, &groups, 8),
                    total_and_page(t, dir, 6, 7)
                )
            } else if groups.is_empty() {
                params.push(Box::new(ALL.to_vec()));
                params.push(Box::new(offset));
                params.push(Box::new(limit));
                format!(
                    "SELECT (SELECT coalesce(sum(n), 0) FROM {t}_term_counts
                             WHERE account = $1 AND region = $2 AND term = $3)::bigint,
                            ARRAY(SELECT record FROM {t} WHERE account = $1 AND region = $2
                                  ORDER BY created_at {dir}, id {dir} OFFSET $4 LIMIT $5)"
                )
            } else if groups.len() == 1 {
                params.push(Box::new(terms_param(&groups[0])));
                params.push(Box::new(offset));
                params.push(Box::new(limit));
                format!(
                    "SELECT (SELECT coalesce(sum(n), 0) FROM {t}_term_counts
                             WHERE account = $1 AND region = $2 AND term = ANY($3))::bigint,
                            ARRAY(
                        SELECT k.record FROM (
                            SELECT e.created_at, e.id FROM unnest($3::bytea[]) AS u(term),
                            LATERAL (SELECT created_at, id FROM {t}_terms x
                                     WHERE x.account = $1 AND x.region = $2 AND x.term = u.term
                                     ORDER BY created_at {dir}, id {dir} LIMIT $4::bigint + $5::bigint) e
                            ORDER BY e.created_at {dir}, e.id {dir} OFFSET $4 LIMIT $5) p
                        JOIN {t} k ON k.id = p.id ORDER BY p.created_at {dir}, p.id {dir})"
                )
            } else {
                if groups.len() > 1 {
                    let all: Vec<Vec<u8>> = groups.iter().flat_map(terms_param).collect();
                    let sizes = conn.query(
                        &format!(
                            "SELECT term, sum(n)::bigint FROM {t}_term_counts
                             WHERE account = $1 AND region = $2 AND term = ANY($3)
                             GROUP BY term"
                        ),
                        &[&account, &region, &all],
                    )?;
                    let size_of = |g: &TermGroup| -> i64 {
                        sizes
                            .iter()
                            .filter(|row| {
                                let term: &[u8] = row.get(0);
                                g.terms.iter().any(|t| t.as_bytes() == term)
                            })
                            .map(|row| row.get::<_, i64>(1))
                            .sum()
                    };
                    let smallest = (0..groups.len())
                        .min_by_key(|&i| size_of(&groups[i]))
                        .unwrap_or(0);
                    groups.swap(0, smallest);
                }
                params.push(Box::new(terms_param(&groups[0])));
                params.push(Box::new(offset));
                params.push(Box::new(limit));
                push_terms(&mut params, &groups[1..]);
                format!(
                    "WITH m AS MATERIALIZED (
                        SELECT DISTINCT c.created_at, c.id FROM unnest($3::bytea[]) AS s(term),
                        LATERAL (SELECT created_at, id FROM {t}_terms
                                 WHERE account = $1 AND region = $2 AND term = s.term
                                 OFFSET 0) c
                        WHERE true{})
                     {}",
                    meets_all(t, &groups[1..], 6),
                    total_and_page(t, dir, 4, 5)
                )
            };
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
            let row = conn.query_one(&sql, &refs)?;
            let total: i64 = row.get(0);
            let records: Vec<Vec<u8>> = row.get(1);
            let page = records
                .iter()
                .map(|r| decode(r))
                .collect::<Result<Vec<R>, Fail>>()?;
            Ok(Listed {
                total: db_u64(total),
                page,
            })
        })
    }

    /// Every distinct tag of the scope, from the counts of its tag-and-value terms.
    pub(super) fn record_tags(
        &self,
        kind: &Kind,
        account: AccountId,
        region: &str,
    ) -> Result<Vec<Tag>, StoreError> {
        let t = kind.table;
        let from = TAG_VALUE_TERM_PREFIX.as_bytes().to_vec();
        let mut to = from.clone();
        if let Some(last) = to.last_mut() {
            *last += 1;
        }
        self.read(|conn| {
            let rows = conn.query(
                &format!(
                    "SELECT term FROM {t}_term_counts
                     WHERE account = $1 AND region = $2 AND term >= $3 AND term < $4
                     GROUP BY term HAVING sum(n) > 0"
                ),
                &[&acct(account), &region, &from, &to],
            )?;
            let mut tags = Vec::with_capacity(rows.len());
            for row in rows {
                let term = String::from_utf8(row.get(0))
                    .ok()
                    .and_then(|t| tag_of_term(&t))
                    .ok_or_else(|| Fail::Corrupt("malformed tag term".into()))?;
                tags.push(term);
            }
            tags.sort_unstable_by(|a, b| (&a.key, &a.value).cmp(&(&b.key, &b.value)));
            Ok(tags)
        })
    }

    pub(super) fn key_aliases(
        &self,
        account: AccountId,
        region: &str,
        key_id: Option<Uuid>,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<(Uuid, Alias)>, StoreError> {
        if let Some(key_id) = key_id {
            let key: Option<KeyRecord> = self.get_record(&self.keys, &key_id)?;
            return Ok(Listed::aliases_of_key(key, account, region, offset, limit));
        }
        let (offset, limit) = (bound(offset), bound(limit));
        self.read(|conn| {
            let rows = conn.query(
                "SELECT t.total, p.name, p.id, p.alias_created, p.alias_updated
                 FROM (SELECT coalesce(sum(n), 0)::bigint AS total FROM keys_term_counts
                       WHERE account = $1 AND region = $2 AND term = $3) t
                 LEFT JOIN LATERAL (
                     SELECT name, id, alias_created, alias_updated FROM keys_names
                     WHERE account = $1 AND region = $2 AND alias_created IS NOT NULL
                     ORDER BY name OFFSET $4 LIMIT $5) p ON true",
                &[&acct(account), &region, &ALIASES, &offset, &limit],
            )?;
            let mut total = 0;
            let mut page = Vec::new();
            for row in rows {
                total = db_u64(row.get(0));
                let Some(name) = row.get::<_, Option<Vec<u8>>>(1) else {
                    continue;
                };
                let name = String::from_utf8(name)
                    .map_err(|_| Fail::Corrupt("an alias name is not UTF-8".into()))?;
                page.push((
                    row.get(2),
                    Alias {
                        name,
                        created_at: db_u64(row.get(3)),
                        updated_at: db_u64(row.get(4)),
                    },
                ));
            }
            Ok(Listed { total, page })
        })
    }
}
