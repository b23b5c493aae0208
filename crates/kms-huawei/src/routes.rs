//! The route table: method and path pattern to operation, for all of `huaweicloudsdkkms` v2.

use crate::operations::{
    AliasOp, AsymmetricOp, CryptoOp, GrantOp, ImportOp, KeyOp, KeyStoreOp, RotationOp, ServiceOp,
    TagOp,
};

/// An operation of the vendor's API, by family; each family is served by one module of
/// [`crate::operations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Key(KeyOp),
    Alias(AliasOp),
    Crypto(CryptoOp),
    Import(ImportOp),
    Asymmetric(AsymmetricOp),
    Rotation(RotationOp),
    Tag(TagOp),
    Service(ServiceOp),
    Grant(GrantOp),
    KeyStore(KeyStoreOp),
    /// Key policies, access points, PIN and replication: answered with the
    /// vendor's code for an unsupported operation until their issues.
    Unsupported,
}

/// One row of the route table.
pub struct RouteSpec {
    pub method: &'static str,
    /// The API version segment the path starts with.
    pub version: &'static str,
    /// The path after `/{version}/{project_id}/`; `{name}` segments are path parameters.
    pub pattern: &'static str,
    pub op: Op,
    /// The operation's name (the SDK's, in CamelCase) for logs, metrics and the audit trail.
    pub name: &'static str,
    /// Whether it may block (commits, key generation, scans).
    pub blocking: bool,
    /// The status of a successful answer.
    pub status: u16,
}

const fn row(
    method: &'static str,
    pattern: &'static str,
    op: Op,
    name: &'static str,
    blocking: bool,
) -> RouteSpec {
    RouteSpec {
        method,
        version: "v1.0",
        pattern,
        op,
        name,
        blocking,
        status: 200,
    }
}

const fn with_status(mut r: RouteSpec, status: u16) -> RouteSpec {
    r.status = status;
    r
}

const fn v2(mut r: RouteSpec) -> RouteSpec {
    r.version = "v2";
    r
}

use Op::*;

pub const ROUTES: &[RouteSpec] = &[
    row(
        "POST",
        "kms/create-key",
        Key(KeyOp::Create),
        "CreateKey",
        true,
    ),
    row(
        "POST",
        "kms/describe-key",
        Key(KeyOp::Describe),
        "ListKeyDetail",
        false,
    ),
    row("POST", "kms/list-keys", Key(KeyOp::List), "ListKeys", true),
    row(
        "POST",
        "kms/enable-key",
        Key(KeyOp::Enable),
        "EnableKey",
        true,
    ),
    row(
        "POST",
        "kms/disable-key",
        Key(KeyOp::Disable),
        "DisableKey",
        true,
    ),
    row(
        "POST",
        "kms/schedule-key-deletion",
        Key(KeyOp::ScheduleDeletion),
        "DeleteKey",
        true,
    ),
    row(
        "POST",
        "kms/cancel-key-deletion",
        Key(KeyOp::CancelDeletion),
        "CancelKeyDeletion",
        true,
    ),
    row(
        "POST",
        "kms/update-key-alias",
        Key(KeyOp::UpdateAlias),
        "UpdateKeyAlias",
        true,
    ),
    row(
        "POST",
        "kms/update-key-description",
        Key(KeyOp::UpdateDescription),
        "UpdateKeyDescription",
        true,
    ),
    with_status(
        row(
            "POST",
            "kms/aliases",
            Alias(AliasOp::Create),
            "CreateAlias",
            true,
        ),
        201,
    ),
    with_status(
        row(
            "DELETE",
            "kms/aliases",
            Alias(AliasOp::Delete),
            "DeleteAlias",
            true,
        ),
        204,
    ),
    row(
        "GET",
        "kms/aliases",
        Alias(AliasOp::List),
        "ListAliases",
        true,
    ),
    row(
        "POST",
        "kms/alias/associate",
        Alias(AliasOp::Associate),
        "AssociateAlias",
        true,
    ),
    row(
        "POST",
        "kms/encrypt-data",
        Crypto(CryptoOp::EncryptData),
        "EncryptData",
        false,
    ),
    row(
        "POST",
        "kms/decrypt-data",
        Crypto(CryptoOp::DecryptData),
        "DecryptData",
        false,
    ),
    row(
        "POST",
        "kms/re-encrypt",
        Crypto(CryptoOp::ReEncrypt),
        "ReEncrypt",
        false,
    ),
    row(
        "POST",
        "kms/gen-random",
        Crypto(CryptoOp::GenRandom),
        "CreateRandom",
        false,
    ),
    row(
        "POST",
        "kms/create-datakey",
        Crypto(CryptoOp::CreateDatakey),
        "CreateDatakey",
        false,
    ),
    row(
        "POST",
        "kms/create-datakey-without-plaintext",
        Crypto(CryptoOp::CreateDatakeyWithoutPlaintext),
        "CreateDatakeyWithoutPlaintext",
        false,
    ),
    row(
        "POST",
        "kms/encrypt-datakey",
        Crypto(CryptoOp::EncryptDatakey),
        "EncryptDatakey",
        false,
    ),
    row(
        "POST",
        "kms/decrypt-datakey",
        Crypto(CryptoOp::DecryptDatakey),
        "DecryptDatakey",
        false,
    ),
    row(
        "POST",
        "kms/create-rsa-datakey-pair",
        Crypto(CryptoOp::CreateRsaDatakeyPair),
        "CreateRsaDatakeyPair",
        true,
    ),
    row(
        "POST",
        "kms/create-ec-datakey-pair",
        Crypto(CryptoOp::CreateEcDatakeyPair),
        "CreateEcDatakeyPair",
        true,
    ),
    row(
        "POST",
        "kms/datakey-capsule/create",
        Crypto(CryptoOp::CreateDatakeyCapsule),
        "CreateDatakeyCapsule",
        false,
    ),
    row(
        "POST",
        "kms/datakey-capsule/decrypt",
        Crypto(CryptoOp::DecryptDatakeyCapsule),
        "DecryptDatakeyCapsule",
        false,
    ),
    row(
        "POST",
        "kms/get-parameters-for-import",
        Import(ImportOp::GetParameters),
        "CreateParametersForImport",
        true,
    ),
    row(
        "POST",
        "kms/import-key-material",
        Import(ImportOp::ImportMaterial),
        "ImportKeyMaterial",
        true,
    ),
    row(
        "POST",
        "kms/delete-imported-key-material",
        Import(ImportOp::DeleteMaterial),
        "DeleteImportedKeyMaterial",
        true,
    ),
    row(
        "POST",
        "kms/sign",
        Asymmetric(AsymmetricOp::Sign),
        "Sign",
        true,
    ),
    row(
        "POST",
        "kms/verify",
        Asymmetric(AsymmetricOp::Verify),
        "ValidateSignature",
        true,
    ),
    row(
        "POST",
        "kms/get-publickey",
        Asymmetric(AsymmetricOp::GetPublicKey),
        "ShowPublicKey",
        false,
    ),
    row(
        "POST",
        "kms/generate-mac",
        Asymmetric(AsymmetricOp::GenerateMac),
        "GenerateMac",
        false,
    ),
    row(
        "POST",
        "kms/verify-mac",
        Asymmetric(AsymmetricOp::VerifyMac),
        "VerifyMac",
        false,
    ),
    row(
        "POST",
        "kms/derive-shared-secret",
        Asymmetric(AsymmetricOp::DeriveSharedSecret),
        "DeriveSharedSecret",
        true,
    ),
    row(
        "POST",
        "kms/enable-key-rotation",
        Rotation(RotationOp::Enable),
        "EnableKeyRotation",
        true,
    ),
    row(
        "POST",
        "kms/disable-key-rotation",
        Rotation(RotationOp::Disable),
        "DisableKeyRotation",
        true,
    ),
    row(
        "POST",
        "kms/get-key-rotation-status",
        Rotation(RotationOp::Status),
        "ShowKeyRotationStatus",
        false,
    ),
    row(
        "POST",
        "kms/update-key-rotation-interval",
        Rotation(RotationOp::UpdateInterval),
        "UpdateKeyRotationInterval",
        true,
    ),
    row(
        "POST",
        "kms/rotate-on-demand",
        Rotation(RotationOp::RotateOnDemand),
        "RotateOnDemand",
        true,
    ),
    row(
        "POST",
        "kms/resource_instances/action",
        Tag(TagOp::ListByTags),
        "ListKmsByTags",
        true,
    ),
    row(
        "GET",
        "kms/tags",
        Tag(TagOp::ListProjectTags),
        "ListKmsTags",
        true,
    ),
    with_status(
        row(
            "POST",
            "kms/{key_id}/tags",
            Tag(TagOp::Create),
            "CreateKmsTag",
            true,
        ),
        204,
    ),
    row(
        "GET",
        "kms/{key_id}/tags",
        Tag(TagOp::Show),
        "ShowKmsTags",
        false,
    ),
    with_status(
        row(
            "POST",
            "kms/{key_id}/tags/action",
            Tag(TagOp::Batch),
            "BatchCreateKmsTags",
            true,
        ),
        204,
    ),
    with_status(
        row(
            "DELETE",
            "kms/{key_id}/tags/{key}",
            Tag(TagOp::Delete),
            "DeleteTag",
            true,
        ),
        204,
    ),
    row(
        "GET",
        "kms/user-instances",
        Service(ServiceOp::UserInstances),
        "ShowUserInstances",
        true,
    ),
    row(
        "GET",
        "kms/user-quotas",
        Service(ServiceOp::UserQuotas),
        "ShowUserQuotas",
        true,
    ),
    v2(row(
        "GET",
        "kms/regions",
        Service(ServiceOp::Regions),
        "ListSupportRegions",
        false,
    )),
    row(
        "POST",
        "kms/create-grant",
        Grant(GrantOp::Create),
        "CreateGrant",
        true,
    ),
    row(
        "POST",
        "kms/revoke-grant",
        Grant(GrantOp::Revoke),
        "CancelGrant",
        true,
    ),
    row(
        "POST",
        "kms/retire-grant",
        Grant(GrantOp::Retire),
        "CancelSelfGrant",
        true,
    ),
    row(
        "POST",
        "kms/list-grants",
        Grant(GrantOp::List),
        "ListGrants",
        true,
    ),
    row(
        "POST",
        "kms/list-retirable-grants",
        Grant(GrantOp::ListRetirable),
        "ListRetirableGrants",
        true,
    ),
    row(
        "POST",
        "kms/key-policies",
        Unsupported,
        "CreateKeyPolicy",
        false,
    ),
    row(
        "GET",
        "kms/key-policies",
        Unsupported,
        "ListKeyPolicy",
        false,
    ),
    row(
        "GET",
        "kms/key-policies/{id}",
        Unsupported,
        "ShowKeyPolicy",
        false,
    ),
    row(
        "PUT",
        "kms/key-policies/{id}",
        Unsupported,
        "UpdateKeyPolicy",
        false,
    ),
    row(
        "DELETE",
        "kms/key-policies/{id}",
        Unsupported,
        "DeleteKeyPolicy",
        false,
    ),
    row(
        "POST",
        "kms/access-points",
        Unsupported,
        "CreateAccessPoint",
        false,
    ),
    row(
        "GET",
        "kms/access-points",
        Unsupported,
        "ListAccessPoint",
        false,
    ),
    row(
        "DELETE",
        "kms/access-points/{id}",
        Unsupported,
        "DeleteAccessPoint",
        false,
    ),
    row(
        "POST",
        "kms/access-points/{id}/enable",
        Unsupported,
        "EnableAccessPoint",
        false,
    ),
    row(
        "POST",
        "kms/access-points/{id}/disable",
        Unsupported,
        "DisableAccessPoint",
        false,
    ),
    row(
        "POST",
        "kms/access-points/{id}/get-privatekey",
        Unsupported,
        "DownloadAccessPointPrivateKey",
        false,
    ),
    row("POST", "kms/create-pin", Unsupported, "CreatePin", false),
    row(
        "POST",
        "keystores",
        KeyStore(KeyStoreOp::Create),
        "CreateKeyStore",
        true,
    ),
    row(
        "GET",
        "keystores",
        KeyStore(KeyStoreOp::List),
        "ListKeyStores",
        true,
    ),
    row(
        "GET",
        "keystores/{id}",
        KeyStore(KeyStoreOp::Show),
        "ShowKeyStore",
        true,
    ),
    row(
        "DELETE",
        "keystores/{id}",
        KeyStore(KeyStoreOp::Delete),
        "DeleteKeyStore",
        true,
    ),
    row(
        "POST",
        "keystores/{id}/enable",
        KeyStore(KeyStoreOp::Enable),
        "EnableKeyStore",
        true,
    ),
    row(
        "POST",
        "keystores/{id}/disable",
        KeyStore(KeyStoreOp::Disable),
        "DisableKeyStore",
        true,
    ),
    v2(row(
        "POST",
        "kms/keys/{key_id}/replicate",
        Unsupported,
        "ReplicateKey",
        false,
    )),
    v2(row(
        "PUT",
        "kms/keys/{key_id}/update-primary-region",
        Unsupported,
        "UpdatePrimaryRegion",
        false,
    )),
];

/// The values of a route's `{name}` path segments.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PathParams<'a> {
    pub key_id: Option<&'a str>,
    /// A tag's key (`DELETE .../tags/{key}`), still percent-encoded.
    pub key: Option<&'a str>,
    pub id: Option<&'a str>,
}

/// Where a request's path leads.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// An operation of the vendor's API, with the path's project id and parameters.
    Op {
        project_id: &'a str,
        spec: &'static RouteSpec,
        params: PathParams<'a>,
    },
    /// A path under a project that no operation has (answered `KMS.0201` once authenticated).
    Unknown { project_id: &'a str },
    /// `GET /`: the list of API versions.
    Versions,
    /// `GET /{version_id}`: one API version.
    Version(&'a str),
    /// IAM's `GET /v3/projects`: the caller's projects, which the SDK asks for when it was given
    /// no project id.
    Projects,
}

/// Rows are compared by identity (their place in [`ROUTES`]).
impl PartialEq for RouteSpec {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}
impl Eq for RouteSpec {}
impl std::fmt::Debug for RouteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.name)
    }
}

/// The API versions answered by version discovery.
pub const VERSIONS: &[&str] = &["v1.0"];

/// Whether a path belongs to this dialect (given that the Tencent dialect did not claim it):
/// the same answer as `route(..).is_some()`, from the path's shape alone, without the table.
pub fn claims(method: &str, path: &str) -> bool {
    let get = method == "GET";
    if path == "/" || path == "/v3/projects" {
        return get;
    }
    if path
        .strip_prefix('/')
        .is_some_and(|v| VERSIONS.contains(&v))
    {
        return get;
    }
    ["/v1.0/", "/v2/", "/v3/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

pub fn route<'a>(method: &str, path: &'a str) -> Option<Route<'a>> {
    if method == "GET" && path == "/" {
        return Some(Route::Versions);
    }
    if let Some(v) = path.strip_prefix('/').filter(|v| VERSIONS.contains(v)) {
        return (method == "GET").then_some(Route::Version(v));
    }
    if path == "/v3/projects" {
        return (method == "GET").then_some(Route::Projects);
    }
    let (version, rest) = ["v1.0", "v2", "v3"].iter().find_map(|v| {
        path.strip_prefix('/')
            .and_then(|p| p.strip_prefix(v))
            .and_then(|p| p.strip_prefix('/'))
            .map(|rest| (*v, rest))
    })?;
    let (project_id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let candidates = || {
        ROUTES
            .iter()
            .filter(move |r| r.method == method && r.version == version)
    };
    // A literal route wins over a pattern (`kms/resource_instances/action` is not a key's
    // tags), and comparing whole strings first keeps the common case cheap.
    let found = candidates()
        .find(|r| r.pattern == tail)
        .map(|spec| (spec, PathParams::default()))
        .or_else(|| candidates().find_map(|spec| Some((spec, matches(spec.pattern, tail)?))));
    Some(match found {
        Some((spec, params)) => Route::Op {
            project_id,
            spec,
            params,
        },
        None => Route::Unknown { project_id },
    })
}

/// Matches a path tail against a pattern with `{name}` segments.
fn matches<'a>(pattern: &str, tail: &'a str) -> Option<PathParams<'a>> {
    let mut params = PathParams::default();
    let mut segments = tail.split('/');
    for part in pattern.split('/') {
        let segment = segments.next()?;
        match part {
            "{key_id}" if !segment.is_empty() => params.key_id = Some(segment),
            "{key}" if !segment.is_empty() => params.key = Some(segment),
            "{id}" if !segment.is_empty() => params.id = Some(segment),
            literal if literal == segment => {}
            _ => return None,
        }
    }
    segments.next().is_none().then_some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op_of(method: &str, path: &str) -> Option<(&'static str, Op)> {
        match route(method, path)? {
            Route::Op { spec, .. } => Some((spec.name, spec.op)),
            _ => None,
        }
    }

    #[test]
    fn paths_route() {
        assert_eq!(route("GET", "/"), Some(Route::Versions));
        assert_eq!(route("GET", "/v1.0"), Some(Route::Version("v1.0")));
        assert_eq!(route("POST", "/v1.0"), None);
        assert_eq!(route("GET", "/healthz"), None);
        assert_eq!(route("POST", "/other"), None);
        assert_eq!(route("GET", "/v3/projects"), Some(Route::Projects));
        assert_eq!(route("POST", "/v3/projects"), None);
        assert_eq!(
            op_of("POST", "/v1.0/p1/kms/create-key"),
            Some(("CreateKey", Key(KeyOp::Create)))
        );
        assert_eq!(
            route("GET", "/v1.0/p1/kms/create-key"),
            Some(Route::Unknown { project_id: "p1" })
        );
        assert_eq!(
            op_of("POST", "/v2/p2/kms/keys/k/replicate"),
            Some(("ReplicateKey", Unsupported))
        );
        assert_eq!(
            op_of("POST", "/v1.0/p3/keystores"),
            Some(("CreateKeyStore", KeyStore(KeyStoreOp::Create)))
        );
        assert_eq!(
            op_of("POST", "/v1.0/p/kms/resource_instances/action"),
            Some(("ListKmsByTags", Tag(TagOp::ListByTags)))
        );
        assert_eq!(
            op_of("POST", "/v1.0/p/kms/k1/tags/action"),
            Some(("BatchCreateKmsTags", Tag(TagOp::Batch)))
        );
        assert_eq!(
            op_of("GET", "/v2/p/kms/regions"),
            Some(("ListSupportRegions", Service(ServiceOp::Regions)))
        );
        assert_eq!(
            route("GET", "/v1.0/p/kms/regions"),
            Some(Route::Unknown { project_id: "p" })
        );
    }

    #[test]
    fn claims_agrees_with_the_table() {
        let paths = [
            "/",
            "/v1.0",
            "/v1.0/",
            "/v2",
            "/v3",
            "/v3/projects",
            "/v3/projects/x",
            "/v1.0/p/kms/create-key",
            "/v1.0/p",
            "/v2/p/kms/regions",
            "/v3/p/x",
            "/v4/p",
            "/healthz",
            "/metrics",
            "//v1.0/p",
            "/v1.0x/p",
            "",
        ];
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            for path in paths {
                assert_eq!(
                    claims(method, path),
                    route(method, path).is_some(),
                    "{method} {path}"
                );
            }
        }
    }

    #[test]
    fn path_parameters_are_captured() {
        let Some(Route::Op { params, .. }) = route("DELETE", "/v1.0/p/kms/k-1/tags/a%20b") else {
            panic!("no route");
        };
        assert_eq!(
            params,
            PathParams {
                key_id: Some("k-1"),
                key: Some("a%20b"),
                id: None
            }
        );
        assert_eq!(
            route("DELETE", "/v1.0/p/kms/k-1/tags/"),
            Some(Route::Unknown { project_id: "p" })
        );
        assert_eq!(
            route("GET", "/v1.0/p/kms//tags"),
            Some(Route::Unknown { project_id: "p" })
        );
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.version == b.version && a.pattern == b.pattern),
                    "{} {} twice",
                    a.method,
                    a.pattern
                );
                assert_ne!(a.name, b.name);
            }
        }
        assert_eq!(ROUTES.len(), 73);
    }
}
