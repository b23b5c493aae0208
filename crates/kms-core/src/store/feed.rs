//! What a shared store tells each node about changes other nodes made, so the node's caches
//! (key records, the identity directory) follow them.

use uuid::Uuid;

/// One committed change, named by what a cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A key record was created, replaced or deleted (its names and grants may have moved).
    Key(Uuid),
    /// A hosted data key record was created, replaced or deleted.
    DataKey(Uuid),
    /// A grant of this key was created or removed.
    Grants(Uuid),
    /// The identity document was replaced (users, credentials, policies, account states).
    Identity,
    /// An account was created.
    Accounts,
    /// A setting of the store was written.
    Settings,
}

/// What a change feed reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEvent {
    Changed(Change),
    /// The feed is connected again: changes made while it was down were not reported, so
    /// every cache must be dropped before it is trusted again.
    Resumed,
    /// The feed cannot vouch for the caches any more (its connection broke, or its heartbeat
    /// did not come back in time): until [`FeedEvent::Resumed`], nothing cached may be served.
    Lost,
}

/// The text a change travels as between nodes (PostgreSQL's NOTIFY payload).
impl Change {
    pub fn encode(&self) -> String {
        match self {
            Change::Key(id) => format!("k:{id}"),
            Change::DataKey(id) => format!("d:{id}"),
            Change::Grants(id) => format!("g:{id}"),
            Change::Identity => "i".into(),
            Change::Accounts => "a".into(),
            Change::Settings => "s".into(),
        }
    }

    /// The change `text` names; `None` for text that is no change (a heartbeat, say).
    pub fn decode(text: &str) -> Option<Change> {
        let id = |s: &str| Uuid::parse_str(s).ok();
        match text.split_once(':') {
            Some(("k", rest)) => id(rest).map(Change::Key),
            Some(("d", rest)) => id(rest).map(Change::DataKey),
            Some(("g", rest)) => id(rest).map(Change::Grants),
            None if text == "i" => Some(Change::Identity),
            None if text == "a" => Some(Change::Accounts),
            None if text == "s" => Some(Change::Settings),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_travel_as_text_and_back() {
        let id = Uuid::new_v4();
        for change in [
            Change::Key(id),
            Change::DataKey(id),
            Change::Grants(id),
            Change::Identity,
            Change::Accounts,
            Change::Settings,
        ] {
            assert_eq!(Change::decode(&change.encode()), Some(change));
        }
        for text in ["", "k:", "k:nope", "x:1", "ping:abc", "i:"] {
            assert_eq!(Change::decode(text), None, "{text:?}");
        }
    }
}
