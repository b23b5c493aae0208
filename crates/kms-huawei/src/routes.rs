//! The route table: method and path pattern to operation.

/// An operation this dialect serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    CreateKey,
    DescribeKey,
    ListKeys,
    EnableKey,
    DisableKey,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    UpdateKeyAlias,
    UpdateKeyDescription,
    EncryptData,
    DecryptData,
    GenRandom,
    CreateDatakey,
    CreateDatakeyWithoutPlaintext,
}

/// Method, path under `/v1.0/{project_id}/kms/`, operation, name (for logs and metrics), and
/// whether it may block (commits, key generation, scans).
pub const ROUTES: &[(&str, &str, Op, &str, bool)] = &[
    ("POST", "create-key", Op::CreateKey, "CreateKey", true),
    (
        "POST",
        "describe-key",
        Op::DescribeKey,
        "ListKeyDetail",
        false,
    ),
    ("POST", "list-keys", Op::ListKeys, "ListKeys", true),
    ("POST", "enable-key", Op::EnableKey, "EnableKey", true),
    ("POST", "disable-key", Op::DisableKey, "DisableKey", true),
    (
        "POST",
        "schedule-key-deletion",
        Op::ScheduleKeyDeletion,
        "DeleteKey",
        true,
    ),
    (
        "POST",
        "cancel-key-deletion",
        Op::CancelKeyDeletion,
        "CancelKeyDeletion",
        true,
    ),
    (
        "POST",
        "update-key-alias",
        Op::UpdateKeyAlias,
        "UpdateKeyAlias",
        true,
    ),
    (
        "POST",
        "update-key-description",
        Op::UpdateKeyDescription,
        "UpdateKeyDescription",
        true,
    ),
    (
        "POST",
        "encrypt-data",
        Op::EncryptData,
        "EncryptData",
        false,
    ),
    (
        "POST",
        "decrypt-data",
        Op::DecryptData,
        "DecryptData",
        false,
    ),
    ("POST", "gen-random", Op::GenRandom, "CreateRandom", false),
    (
        "POST",
        "create-datakey",
        Op::CreateDatakey,
        "CreateDatakey",
        false,
    ),
    (
        "POST",
        "create-datakey-without-plaintext",
        Op::CreateDatakeyWithoutPlaintext,
        "CreateDatakeyWithoutPlaintext",
        false,
    ),
];

/// Where a request's path leads.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// An operation this dialect serves, with the path's project id.
    Op {
        project_id: &'a str,
        op: Op,
        name: &'static str,
        blocking: bool,
    },
    /// A path of the vendor's API that this server does not serve (yet).
    Unsupported { project_id: &'a str },
    /// `GET /`: the list of API versions.
    Versions,
    /// `GET /{version_id}`: one API version.
    Version(&'a str),
}

/// The API versions answered by version discovery.
pub const VERSIONS: &[&str] = &["v1.0"];

/// Whether a path belongs to this dialect (given that the Tencent dialect did not claim it).
pub fn claims(method: &str, path: &str) -> bool {
    route(method, path).is_some()
}

pub fn route<'a>(method: &str, path: &'a str) -> Option<Route<'a>> {
    if method == "GET" && path == "/" {
        return Some(Route::Versions);
    }
    if let Some(v) = path.strip_prefix('/').filter(|v| VERSIONS.contains(v)) {
        return (method == "GET").then_some(Route::Version(v));
    }
    let rest = ["/v1.0/", "/v2/", "/v3/"]
        .iter()
        .find_map(|p| path.strip_prefix(p))?;
    let (project_id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if let Some(&(_, _, op, name, blocking)) = tail
        .strip_prefix("kms/")
        .filter(|_| path.starts_with("/v1.0/"))
        .and_then(|op_path| {
            ROUTES
                .iter()
                .find(|(m, p, ..)| *m == method && *p == op_path)
        })
    {
        return Some(Route::Op {
            project_id,
            op,
            name,
            blocking,
        });
    }
    Some(Route::Unsupported { project_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route() {
        assert_eq!(route("GET", "/"), Some(Route::Versions));
        assert_eq!(route("GET", "/v1.0"), Some(Route::Version("v1.0")));
        assert_eq!(route("POST", "/v1.0"), None);
        assert_eq!(route("GET", "/healthz"), None);
        assert!(matches!(
            route("POST", "/v1.0/p1/kms/create-key"),
            Some(Route::Op {
                project_id: "p1",
                op: Op::CreateKey,
                blocking: true,
                ..
            })
        ));
        assert_eq!(
            route("GET", "/v1.0/p1/kms/create-key"),
            Some(Route::Unsupported { project_id: "p1" })
        );
        assert_eq!(
            route("POST", "/v2/p2/kms/keys/k/replicate"),
            Some(Route::Unsupported { project_id: "p2" })
        );
        assert_eq!(
            route("POST", "/v1.0/p3/keystores"),
            Some(Route::Unsupported { project_id: "p3" })
        );
        assert_eq!(route("POST", "/other"), None);
    }
}
