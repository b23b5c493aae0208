//! The internal model and its evaluation.

use crate::address::ip_in;
use crate::glob::matches;
use crate::permission::{Permission, cam_names, iam_names};

/// Which vendor's language a policy was written in: it decides the action names and the
/// resource form its patterns are matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Tencent CAM (`version` "2.0").
    Cam,
    /// Huawei IAM (`Version` "1.1").
    Iam,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub language: Language,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub effect: Effect,
    pub actions: Vec<ActionPattern>,
    pub resources: Vec<ResourcePattern>,
    pub conditions: Vec<Condition>,
}

/// An action pattern: the service part (matched against `kms`) and the rest, with wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionPattern {
    pub service: String,
    pub action: String,
}

/// A resource pattern, per segment; `All` is the bare `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourcePattern {
    All,
    /// `qcs::<service>:<region>:<account>:<resource>`; an empty region means every region and an
    /// empty account the policy's own account (the vendor's six-segment rules).
    Cam {
        service: String,
        region: String,
        account: String,
        resource: String,
    },
    /// `<service>:<region>:<domain id>:<type>:<path>`.
    Iam {
        service: String,
        region: String,
        domain: String,
        kind: String,
        path: String,
    },
}

/// Request facts a condition can test; the dialect supplies what it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextKey {
    /// The caller's source address (CAM `qcs:ip`, IAM `g:SourceIp`).
    SourceIp,
    /// The region the request is for (CAM `qcs:requested_region`, IAM `g:ProjectName`).
    Region,
    /// The calling user's id (IAM `g:UserId`).
    UserId,
    /// The calling user's name (IAM `g:UserName`).
    UserName,
    /// The owning account's name (IAM `g:DomainName`).
    AccountName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    Like,
    NotLike,
    /// The value is an address inside one of the given addresses or CIDR blocks.
    IpIn,
    NotIpIn,
}

/// One test: true when the request's value for `key` relates to any of `values` by `operator`
/// (for the negated operators: to none of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: Operator,
    pub ignore_case: bool,
    pub key: ContextKey,
    pub values: Vec<String>,
}

/// The request facts conditions test; `None` where the dialect does not know one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub source_ip: Option<String>,
    pub region: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub account_name: Option<String>,
    /// The caller's own account (its UIN): what an empty account segment of a CAM resource
    /// names. The dialects always supply it; without it such a segment matches nothing.
    pub account_uin: Option<String>,
}

impl Context {
    fn get(&self, key: ContextKey) -> Option<&str> {
        match key {
            ContextKey::SourceIp => self.source_ip.as_deref(),
            ContextKey::Region => self.region.as_deref(),
            ContextKey::UserId => self.user_id.as_deref(),
            ContextKey::UserName => self.user_name.as_deref(),
            ContextKey::AccountName => self.account_name.as_deref(),
        }
    }
}

/// The key a request acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    pub id: String,
    /// The Tencent UIN of the principal that created it (the account's own UIN when its root
    /// did): the `creatorUin` segment of the CAM resource.
    pub creator: String,
}

/// What a request acts on: a key of an account in a region, or, for account-level actions
/// (CreateKey, ListKeys, GenerateRandom...), the account's keys in that region as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub region: String,
    /// The owning account's Tencent UIN (the account segment of CAM resources).
    pub uin: String,
    /// The owning account's Huawei domain id (the account segment of IAM resources).
    pub domain_id: String,
    pub key: Option<KeyRef>,
}

impl Resource {
    /// The resource's CAM six-segment name:
    /// `qcs::kms:{region}:uin/{uin}:key/creatorUin/{creator}/{key_id}`, or `...:key/*` for
    /// account-level actions.
    pub fn cam_name(&self) -> String {
        format!(
            "qcs::kms:{}:uin/{}:{}",
            self.region,
            self.uin,
            self.cam_path()
        )
    }

    fn cam_path(&self) -> String {
        match &self.key {
            Some(k) => format!("key/creatorUin/{}/{}", k.creator, k.id),
            None => "key/*".to_owned(),
        }
    }

    /// The resource's IAM name: `KMS:{region}:{domain_id}:KeyId:{key_id}` (`*` for account-level
    /// actions).
    pub fn iam_name(&self) -> String {
        format!(
            "KMS:{}:{}:KeyId:{}",
            self.region,
            self.domain_id,
            self.key.as_ref().map_or("*", |k| k.id.as_str())
        )
    }
}

/// One authorization question: may the caller do `permission` to `resource`?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub permission: Permission,
    pub resource: Resource,
    pub context: Context,
}

/// Who signed the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// The account's root credential: not evaluated, always allowed in its own account.
    Root,
    /// A user inside the account: allowed only what its policies allow.
    User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A matching Deny statement: wins over any Allow.
    ExplicitDeny,
    /// No statement allowed it.
    ImplicitDeny,
}

impl Decision {
    pub fn allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// The decision for `principal`: the root may do everything in its account; a user what its
/// `policies` allow.
pub fn authorize(principal: Principal, policies: &[Policy], request: &Request) -> Decision {
    match principal {
        Principal::Root => Decision::Allow,
        Principal::User => evaluate(policies, request),
    }
}

/// Evaluates a user's policies: an explicit Deny beats any Allow; without a matching Allow the
/// answer is an implicit deny.
pub fn evaluate(policies: &[Policy], request: &Request) -> Decision {
    let mut allowed = false;
    for policy in policies {
        for s in &policy.statements {
            if s.applies(policy.language, request) {
                match s.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

impl Statement {
    fn applies(&self, language: Language, request: &Request) -> bool {
        self.actions
            .iter()
            .any(|a| a.matches(language, request.permission))
            && self
                .resources
                .iter()
                .any(|r| r.matches(&request.resource, &request.context))
            && self.conditions.iter().all(|c| c.holds(&request.context))
    }
}

impl ActionPattern {
    fn matches(&self, language: Language, permission: Permission) -> bool {
        // Both vendors' action names are compared without regard to case: Huawei documents it;
        // Tencent does not say, and a Deny that missed a differently-cased name would fail open.
        if !matches(&self.service, "kms", true) {
            return false;
        }
        // "Everything in kms" covers also the permissions only the other vendor has a name for
        // (a CAM `kms:*` covers Huawei grants, an IAM `kms:*:*` Tencent's archive calls).
        if self.action.chars().all(|c| c == '*' || c == ':') {
            return true;
        }
        match language {
            Language::Cam => cam_names(permission).any(|n| matches(&self.action, n, true)),
            Language::Iam => iam_names(permission)
                .filter_map(|n| n.strip_prefix("kms:"))
                .any(|n| matches(&self.action, n, true)),
        }
    }
}

impl ResourcePattern {
    fn matches(&self, resource: &Resource, context: &Context) -> bool {
        match self {
            ResourcePattern::All => true,
            ResourcePattern::Cam {
                service,
                region,
                account,
                resource: path,
            } => {
                (service.is_empty() || matches(service, "kms", false))
                    && (region.is_empty() || matches(region, &resource.region, false))
                    && if account.is_empty() {
                        context.account_uin.as_deref() == Some(resource.uin.as_str())
                    } else {
                        matches(account, &format!("uin/{}", resource.uin), false)
                    }
                    // Key ids are compared without regard to case, as the engine reads them:
                    // a Deny written in upper case still names the key.
                    && matches(path, &resource.cam_path(), true)
            }
            ResourcePattern::Iam {
                service,
                region,
                domain,
                kind,
                path,
            } => {
                matches(service, "kms", true)
                    && matches(region, &resource.region, false)
                    && matches(domain, &resource.domain_id, false)
                    && matches(kind, "KeyId", true)
                    && matches(
                        path,
                        resource.key.as_ref().map_or("*", |k| k.id.as_str()),
                        true,
                    )
            }
        }
    }
}

impl Condition {
    fn holds(&self, context: &Context) -> bool {
        let Some(value) = context.get(self.key) else {
            // An unknown value satisfies only the negated tests, so an Allow that needs a value
            // is not granted and a Deny that excludes one still applies.
            return matches!(
                self.operator,
                Operator::NotEquals | Operator::NotLike | Operator::NotIpIn
            );
        };
        let any = |like: bool| {
            self.values.iter().any(|v| {
                if like {
                    matches(v, value, self.ignore_case)
                } else if self.ignore_case {
                    v.eq_ignore_ascii_case(value)
                } else {
                    v == value
                }
            })
        };
        match self.operator {
            Operator::Equals => any(false),
            Operator::NotEquals => !any(false),
            Operator::Like => any(true),
            Operator::NotLike => !any(true),
            Operator::IpIn => self.values.iter().any(|v| ip_in(value, v)),
            Operator::NotIpIn => !self.values.iter().any(|v| ip_in(value, v)),
        }
    }
}
