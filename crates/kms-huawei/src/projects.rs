//! Project ids: one per (account, region). The account's stored project id is its first
//! region's (CONTRACT.md); every other region's is derived from it and the region's name, so it
//! is stable across restarts and needs nothing stored.

use kms_crypto::digest::sha256;

/// Domain separation for derived project ids.
const LABEL: &[u8] = b"kmsd/huawei-project-id/v1";

/// The project id of `region` for an account whose first region's project id is `root`.
pub fn project_id(root: &str, regions: &[String], region: &str) -> String {
    if regions.first().is_some_and(|first| first == region) {
        return root.to_owned();
    }
    let digest = sha256(&[LABEL, b"\0", root.as_bytes(), b"\0", region.as_bytes()].concat());
    hex::encode(&digest[..16])
}

/// The region a project id names for the account, if it is one of the account's.
pub fn region_of<'a>(root: &str, regions: &'a [String], project: &str) -> Option<&'a String> {
    regions
        .iter()
        .find(|r| project_id(root, regions, r) == project)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Vec<String> {
        ["ap-guangzhou", "ap-shanghai", "ap-beijing"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn the_root_project_is_the_first_regions_and_the_others_are_distinct() {
        let root = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
        let regions = regions();
        assert_eq!(project_id(root, &regions, "ap-guangzhou"), root);
        let shanghai = project_id(root, &regions, "ap-shanghai");
        let beijing = project_id(root, &regions, "ap-beijing");
        assert_ne!(shanghai, beijing);
        assert_eq!(shanghai.len(), 32);
        assert!(
            shanghai
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(region_of(root, &regions, &shanghai).unwrap(), "ap-shanghai");
        assert_eq!(region_of(root, &regions, root).unwrap(), "ap-guangzhou");
        assert_eq!(region_of(root, &regions, &"f".repeat(32)), None);
        let other = "ffffffffffffffffffffffffffffffff";
        assert_ne!(project_id(other, &regions, "ap-shanghai"), shanghai);
    }
}
