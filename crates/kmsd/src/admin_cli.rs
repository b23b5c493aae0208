//! `kmsd admin`: the operator's command line. Each command is one request of the admin API,
//! sent to a running server (`--endpoint`) or served in-process on a data directory that no
//! server holds (`--data-dir`), which is how the first accounts are made before a server runs.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use kms_core::accounts::Directory;
use kms_core::{Clock, SystemClock};

use crate::admin::{self, Admin, PREFIX};
use crate::bootstrap::{self, RootEnv};
use crate::data_dir::DataDir;
use crate::hsm::{HsmSeal, StoppedSeal};
use crate::rotation::RootKeyRotation;

const ENDPOINT_VAR: &str = "KMSD_ADMIN_ENDPOINT";
const TOKEN_VAR: &str = "KMSD_ADMIN_TOKEN";
const ROTATE_ROOT_KEY: &str = "/root-key/rotate";

#[derive(Args)]
#[command(
    after_help = "Reach a running server with --endpoint (the admin token comes from --token-file or \
    KMSD_ADMIN_TOKEN; the server wrote it to admin-token in its data directory at first start). \
    Before any server runs, --data-dir works on the data directory itself."
)]
pub struct AdminArgs {
    /// The server's address, e.g. http://127.0.0.1:8740 or https://kms.example:8740.
    #[arg(long, env = ENDPOINT_VAR, global = true, conflicts_with = "data_dir")]
    endpoint: Option<String>,
    /// Work directly on this data directory (no server may be running on it).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// With --data-dir: the root key file, if not the data directory's root.key. [default:
    /// DATA_DIR/root.key]
    #[arg(long, global = true, requires = "data_dir")]
    root_key_file: Option<PathBuf>,
    /// With --data-dir: the store's seal (with --endpoint the server has opened it).
    #[command(flatten)]
    seal: StoppedSeal,
    /// With --endpoint: the file holding the operator token (else KMSD_ADMIN_TOKEN).
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    /// With an https endpoint: the CA certificate (PEM) that signed the server's certificate.
    #[arg(long, global = true)]
    ca_cert: Option<PathBuf>,
    /// How to print answers.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Accounts (tenants): a Tencent UIN and AppId, a Huawei domain with a project per region.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Users inside an account (Tencent sub-accounts, Huawei IAM users).
    #[command(subcommand)]
    User(UserCommand),
    /// Credentials: SecretId/SecretKey pairs, which are also Huawei AK/SK pairs.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Permission policy documents (Tencent CAM or Huawei IAM JSON) and their attachment to users.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The root account's own credential (the one made at first start).
    #[command(subcommand)]
    Root(RootCommand),
    /// The operator's admin token.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Give the server one unseal share, read from standard input (a server sealed by another
    /// seal than Shamir takes none: its root of trust is opened again). Exit 0 when the share
    /// was accepted; `sealed` says whether more are needed.
    Unseal,
    /// Seal the server: the root keys and everything they opened leave its memory, and API
    /// calls are refused until it is unsealed.
    Seal,
    /// Whether the server is sealed, and the shares given towards unsealing it.
    Status,
    /// The root key that seals every stored secret.
    #[command(subcommand, name = "root-key")]
    RootKey(RootKeyCommand),
}

#[derive(Subcommand)]
enum RootKeyCommand {
    /// Seal every stored secret under a new root key while the server serves, then retire the
    /// old one; waits until the rotation has finished.
    Rotate,
    /// The root key's generation, and whether a rotation is under way.
    Status,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Replace the admin token with a new one, written to the data directory's admin-token
    /// file; the old token stops working. Works only with --data-dir, while no server runs.
    Reset,
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account with a root credential; its secret key is shown only this once.
    Create,
    /// List every account.
    List,
    /// Show an account with its users, credentials (never their secrets) and policies.
    Show { uin: u64 },
    /// Disable an account: none of its credentials works until it is enabled again.
    Disable { uin: u64 },
    /// Enable a disabled account.
    Enable { uin: u64 },
}

#[derive(Args)]
struct InAccount {
    /// The account (its UIN).
    #[arg(long)]
    account: u64,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (no credential, no policy yet).
    Create {
        #[command(flatten)]
        at: InAccount,
        /// 1 to 64 characters from A-Z, a-z, 0-9 and + = , . @ _ -; unique in the account.
        name: String,
    },
    /// List the account's users.
    List {
        #[command(flatten)]
        at: InAccount,
    },
    /// Show a user.
    Show {
        #[command(flatten)]
        at: InAccount,
        user: String,
    },
    /// Disable a user: none of their credentials works until enabled again.
    Disable {
        #[command(flatten)]
        at: InAccount,
        user: String,
    },
    /// Enable a disabled user.
    Enable {
        #[command(flatten)]
        at: InAccount,
        user: String,
    },
    /// Delete a user and all their credentials.
    Delete {
        #[command(flatten)]
        at: InAccount,
        user: String,
    },
    /// Set a user's password (for Huawei tokens), read from standard input.
    SetPassword {
        #[command(flatten)]
        at: InAccount,
        user: String,
    },
    /// Remove a user's password.
    ClearPassword {
        #[command(flatten)]
        at: InAccount,
        user: String,
    },
}

#[derive(Subcommand)]
enum CredentialCommand {
    /// Create a credential for a user, or for the account's root without --user; the secret
    /// key is shown only this once.
    Create {
        #[command(flatten)]
        at: InAccount,
        /// The user (id) the credential belongs to.
        #[arg(long)]
        user: Option<String>,
    },
    /// List the account's credentials, without their secrets.
    List {
        #[command(flatten)]
        at: InAccount,
    },
    /// Disable a credential: refused at once on every route.
    Disable {
        #[command(flatten)]
        at: InAccount,
        secret_id: String,
    },
    /// Enable a disabled credential.
    Enable {
        #[command(flatten)]
        at: InAccount,
        secret_id: String,
    },
    /// Give a credential a new secret key (same secret id); the old key stops working at once.
    Rotate {
        #[command(flatten)]
        at: InAccount,
        secret_id: String,
    },
    /// Delete a credential; its secret id is never reused.
    Delete {
        #[command(flatten)]
        at: InAccount,
        secret_id: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Language {
    /// Tencent CAM.
    Cam,
    /// Huawei IAM.
    Iam,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Store a policy document (a JSON object of at most 6144 characters).
    Create {
        #[command(flatten)]
        at: InAccount,
        name: String,
        #[arg(long, value_enum)]
        language: Language,
        /// The file holding the document; `-` reads standard input.
        #[arg(long)]
        document: PathBuf,
    },
    /// List the account's policies.
    List {
        #[command(flatten)]
        at: InAccount,
    },
    /// Show a policy with its document.
    Show {
        #[command(flatten)]
        at: InAccount,
        name: String,
    },
    /// Delete a policy that no user has attached.
    Delete {
        #[command(flatten)]
        at: InAccount,
        name: String,
    },
    /// Attach a policy to a user.
    Attach {
        #[command(flatten)]
        at: InAccount,
        #[arg(long)]
        user: String,
        name: String,
    },
    /// Detach a policy from a user.
    Detach {
        #[command(flatten)]
        at: InAccount,
        #[arg(long)]
        user: String,
        name: String,
    },
}

#[derive(Subcommand)]
enum RootCommand {
    /// Give the root credential a new secret key (same secret id); the old key stops working at
    /// once, and root-credentials.json, if there, is rewritten.
    Rotate,
}

/// One admin API request.
struct Request {
    method: &'static str,
    path: String,
    body: Option<Value>,
}

fn req(method: &'static str, path: String, body: Option<Value>) -> Request {
    Request { method, path, body }
}

fn read_input(path: &Path, what: &str) -> anyhow::Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .with_context(|| format!("reading the {what} from standard input"))?;
    } else {
        *text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the {what} from {}", path.display()))?;
    }
    Ok(text)
}

/// One line of standard input, asked for when a person is typing.
fn read_secret_line(what: &str) -> anyhow::Result<Zeroizing<String>> {
    if std::io::stdin().is_terminal() {
        eprintln!("Type {what} and press Enter:");
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .read_line(&mut line)
        .with_context(|| format!("reading {what} from standard input"))?;
    Ok(line)
}

fn request(command: AdminCommand) -> anyhow::Result<Request> {
    use AccountCommand as A;
    use CredentialCommand as C;
    use PolicyCommand as P;
    use UserCommand as U;
    let a = |at: &InAccount, rest: &str| format!("/accounts/{}{rest}", at.account);
    Ok(match command {
        AdminCommand::Account(c) => match c {
            A::Create => req("POST", "/accounts".into(), Some(json!({}))),
            A::List => req("GET", "/accounts".into(), None),
            A::Show { uin } => req("GET", format!("/accounts/{uin}"), None),
            A::Disable { uin } => req("POST", format!("/accounts/{uin}/disable"), None),
            A::Enable { uin } => req("POST", format!("/accounts/{uin}/enable"), None),
        },
        AdminCommand::User(c) => match c {
            U::Create { at, name } => req("POST", a(&at, "/users"), Some(json!({ "name": name }))),
            U::List { at } => req("GET", a(&at, "/users"), None),
            U::Show { at, user } => req("GET", a(&at, &format!("/users/{user}")), None),
            U::Disable { at, user } => req("POST", a(&at, &format!("/users/{user}/disable")), None),
            U::Enable { at, user } => req("POST", a(&at, &format!("/users/{user}/enable")), None),
            U::Delete { at, user } => req("DELETE", a(&at, &format!("/users/{user}")), None),
            U::SetPassword { at, user } => {
                let line = read_secret_line("the password")?;
                let password = line.trim_end_matches(['\r', '\n']);
                req(
                    "PUT",
                    a(&at, &format!("/users/{user}/password")),
                    Some(json!({ "password": password })),
                )
            }
            U::ClearPassword { at, user } => req(
                "PUT",
                a(&at, &format!("/users/{user}/password")),
                Some(json!({ "password": null })),
            ),
        },
        AdminCommand::Credential(c) => match c {
            C::Create { at, user } => req(
                "POST",
                a(&at, "/credentials"),
                Some(json!({ "user": user })),
            ),
            C::List { at } => req("GET", a(&at, "/credentials"), None),
            C::Disable { at, secret_id } => req(
                "POST",
                a(&at, &format!("/credentials/{secret_id}/disable")),
                None,
            ),
            C::Enable { at, secret_id } => req(
                "POST",
                a(&at, &format!("/credentials/{secret_id}/enable")),
                None,
            ),
            C::Rotate { at, secret_id } => req(
                "POST",
                a(&at, &format!("/credentials/{secret_id}/rotate")),
                None,
            ),
            C::Delete { at, secret_id } => {
                req("DELETE", a(&at, &format!("/credentials/{secret_id}")), None)
            }
        },
        AdminCommand::Policy(c) => match c {
            P::Create {
                at,
                name,
                language,
                document,
            } => {
                let document = read_input(&document, "policy document")?;
                let language = match language {
                    Language::Cam => "cam",
                    Language::Iam => "iam",
                };
                req(
                    "POST",
                    a(&at, "/policies"),
                    Some(json!({ "name": name, "language": language, "document": *document })),
                )
            }
            P::List { at } => req("GET", a(&at, "/policies"), None),
            P::Show { at, name } => req("GET", a(&at, &format!("/policies/{name}")), None),
            P::Delete { at, name } => req("DELETE", a(&at, &format!("/policies/{name}")), None),
            P::Attach { at, user, name } => req(
                "PUT",
                a(&at, &format!("/users/{user}/policies/{name}")),
                None,
            ),
            P::Detach { at, user, name } => req(
                "DELETE",
                a(&at, &format!("/users/{user}/policies/{name}")),
                None,
            ),
        },
        AdminCommand::Root(RootCommand::Rotate) => req("POST", "/root/rotate".into(), None),
        AdminCommand::RootKey(RootKeyCommand::Rotate) => {
            req("POST", "/root-key/rotate".into(), Some(json!({})))
        }
        AdminCommand::RootKey(RootKeyCommand::Status) => req("GET", "/root-key".into(), None),
        AdminCommand::Unseal => {
            let line = read_secret_line("one share")?;
            let share = line.trim();
            let body = if share.is_empty() {
                json!({})
            } else {
                json!({ "share": share })
            };
            req("POST", "/unseal".into(), Some(body))
        }
        AdminCommand::Seal => req("POST", "/seal".into(), None),
        AdminCommand::Status => req("GET", "/seal-status".into(), None),
        AdminCommand::Token(TokenCommand::Reset) => anyhow::bail!(
            "token reset works on the data directory itself: stop the server, then run \
             `kmsd admin --data-dir DIR token reset`"
        ),
    })
}

/// Runs `kmsd admin`; answers the process's exit status: 0 done, 1 refused or failed.
pub fn run(args: AdminArgs) -> i32 {
    let output = args.output;
    match run_inner(args).map(rotation_failure) {
        Ok((status, body)) if status < 300 => {
            print(&body, output);
            if body.get("secret_key").is_some() && output == Output::Table {
                eprintln!("The secret key is shown only this once: store it now.");
            }
            0
        }
        Ok((status, body)) => {
            let message = body["error"]["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| body.to_string());
            let code = body["error"]["code"].as_str().unwrap_or("Error");
            eprintln!("error: {message} ({code}, HTTP {status})");
            1
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn run_inner(args: AdminArgs) -> anyhow::Result<(u16, Value)> {
    if let (AdminCommand::Token(TokenCommand::Reset), Some(dir)) = (&args.command, &args.data_dir) {
        let (data_dir, store, _) = open_data_dir(dir, args.root_key_file, &args.seal)?;
        let path = admin::issue_operator_token(store.as_ref(), data_dir.path())?;
        return Ok((200, json!({ "token_file": path.display().to_string() })));
    }
    if args.data_dir.is_some()
        && matches!(
            args.command,
            AdminCommand::Unseal | AdminCommand::Seal | AdminCommand::Status
        )
    {
        anyhow::bail!(
            "unseal, seal and status act on a running server: give --endpoint (or \
             {ENDPOINT_VAR}) and the admin token"
        );
    }
    let request = request(args.command)?;
    let body = match &request.body {
        Some(v) => Zeroizing::new(serde_json::to_vec(v)?),
        None => Zeroizing::new(Vec::new()),
    };
    match (args.endpoint, args.data_dir) {
        (Some(endpoint), _) => {
            let token = token(args.token_file.as_deref())?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let ca_cert = args.ca_cert.as_deref();
            runtime.block_on(async {
                let answer = send(&endpoint, ca_cert, &token, &request, &body).await?;
                if answer.0 != 200 || request.path != ROTATE_ROOT_KEY {
                    return Ok(answer);
                }
                // The walk runs on the server: follow it until it ends.
                let status = req("GET", "/root-key".into(), None);
                loop {
                    let now = send(&endpoint, ca_cert, &token, &status, &[]).await?;
                    if now.0 != 200 || now.1["rotating"] != json!(true) {
                        return Ok(now);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            })
        }
        (None, Some(dir)) => in_process(&dir, args.root_key_file, &args.seal, &request, &body),
        (None, None) => anyhow::bail!(
            "say where to work: --endpoint URL (or {ENDPOINT_VAR}) for a running server, or \
             --data-dir DIR before any server runs"
        ),
    }
}

/// A root key rotation whose walk stopped is a failure, though the status it ends with is not.
fn rotation_failure((status, body): (u16, Value)) -> (u16, Value) {
    match body.get("last_error").and_then(Value::as_str) {
        Some(why) if status == 200 && body["rotating"] == json!(false) => (
            500,
            json!({ "error": { "code": "RotationFailed", "message": format!(
                "the root key rotation stopped: {why}; it resumes at the next start, or run it again"
            ) } }),
        ),
        _ => (status, body),
    }
}

pub(crate) fn token(file: Option<&Path>) -> anyhow::Result<Zeroizing<String>> {
    let token = match file {
        Some(path) => Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the admin token from {}", path.display()))?,
        ),
        None => Zeroizing::new(std::env::var(TOKEN_VAR).map_err(|_| {
            anyhow::anyhow!(
                "the admin API needs the operator token: give --token-file (the server wrote \
                 admin-token in its data directory at first start) or set {TOKEN_VAR}"
            )
        })?),
    };
    let trimmed = Zeroizing::new(token.trim().to_owned());
    anyhow::ensure!(!trimmed.is_empty(), "the admin token is empty");
    Ok(trimmed)
}

/// Serves the request in this process on a data directory, opened as `kmsd serve` opens it
/// (the root account and admin token are made if this is the first use).
fn in_process(
    dir: &Path,
    root_key_file: Option<PathBuf>,
    seal: &StoppedSeal,
    request: &Request,
    body: &[u8],
) -> anyhow::Result<(u16, Value)> {
    let (data_dir, store, sealing) = open_data_dir(dir, root_key_file, seal)?;
    let clock = Arc::new(SystemClock);
    // No server holds the store: nothing else writes, so the walk needs no grace.
    let rotation = RootKeyRotation::new(
        store.clone(),
        sealing.keys.clone(),
        sealing.root,
        std::time::Duration::ZERO,
    );
    rotation.resume_if_unfinished();
    if let Some(path) = admin::ensure_operator_token(store.as_ref(), data_dir.path())? {
        eprintln!("The admin token for --endpoint is in {}.", path.display());
    }
    let admin = Admin::new(
        store,
        sealing.keys,
        Arc::new(Directory::default()),
        clock,
        dir.to_owned(),
        rotation.clone(),
    );
    let reply = admin.execute(request.method, &request.path, body);
    // The rotation's walk runs on its own thread: this process must not exit before it ends.
    let finished = rotation.wait();
    let body = if reply.status == 200 && request.path == ROTATE_ROOT_KEY {
        serde_json::to_value(&finished)?
    } else {
        reply.body
    };
    Ok((reply.status, body))
}

/// A data directory opened for `kmsd admin`: held, with its store and seal.
type Opened = (DataDir, Arc<kms_store::EmbeddedStore>, kms_seal::Sealing);

/// Locks and opens a data directory as `kmsd serve` does, with the key-file seal or the
/// PKCS#11 one: the root account is made, and accounts are brought into the identity records,
/// if this is the first use.
fn open_data_dir(
    dir: &Path,
    root_key_file: Option<PathBuf>,
    seal: &StoppedSeal,
) -> anyhow::Result<Opened> {
    let hsm = seal.pkcs11_settings("kmsd admin --data-dir")?;
    let data_dir = DataDir::lock(dir, "kmsd admin").map_err(|e| match e.downcast() {
        Ok(held) => held_refusal(&held),
        Err(e) => e,
    })?;
    let (sealing, store) = match hsm {
        Some(settings) => {
            let hsm = HsmSeal::connect(&settings)?;
            let store = data_dir
                .open_keyless_store(true)?
                .context("opening the store")?;
            let place = data_dir.path().join(crate::data_dir::STORE_FILE);
            (hsm.root_keys(&store, &place.display().to_string())?, store)
        }
        None => {
            let root_key_file = root_key_file.unwrap_or_else(|| dir.join("root.key"));
            data_dir.open_store(&root_key_file)?
        }
    };
    let store = Arc::new(store);
    bootstrap::ensure_root_account(
        store.as_ref(),
        sealing.keys.as_ref(),
        dir,
        &RootEnv::from_env()?,
        SystemClock.now(),
        false,
    )?;
    kms_core::identity::migrate(store.as_ref())
        .map_err(|e| anyhow::anyhow!("bringing accounts into the identity records: {e}"))?;
    Ok((data_dir, store, sealing))
}

/// Why `--data-dir` cannot be used while another process holds the directory, and what to do
/// instead: a running server is reached through its admin API, not through another directory.
pub(crate) fn held_refusal(held: &crate::data_dir::Held) -> anyhow::Error {
    let dir = held.path.display();
    match held.holder.split_once("listening on ") {
        Some((_, address)) => anyhow::anyhow!(
            "a kmsd server ({}) is running on the data directory {dir}, and --data-dir needs the \
             directory to itself: send the command to that server instead, with --endpoint \
             http://{address} (https:// if it serves TLS) and --token-file {}",
            held.holder,
            held.path.join(admin::TOKEN_FILE).display()
        ),
        None => anyhow::anyhow!(
            "another kmsd ({}) is working on the data directory {dir}; run this command again \
             when it has finished",
            if held.holder.is_empty() {
                "of unknown pid"
            } else {
                &held.holder
            }
        ),
    }
}

/// Sends the request over HTTP or HTTPS and reads the JSON answer.
async fn send(
    endpoint: &str,
    ca_cert: Option<&Path>,
    token: &str,
    request: &Request,
    body: &[u8],
) -> anyhow::Result<(u16, Value)> {
    use http_body_util::BodyExt as _;
    let response = exchange_with(
        endpoint,
        ca_cert,
        token,
        request.method,
        &request.path,
        body,
    )
    .await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    let value = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "the server answered HTTP {status} with something other than the admin API's JSON: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        )
    })?;
    Ok((status, value))
}

/// Sends one admin API request (`path` below [`PREFIX`]) with the operator token, over HTTP to
/// this machine only or over HTTPS, and answers the response with its body still to be read.
pub(crate) async fn exchange_with(
    endpoint: &str,
    ca_cert: Option<&Path>,
    token: &str,
    method: &'static str,
    path: &str,
    body: &[u8],
) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
    let uri: hyper::Uri = endpoint
        .parse()
        .with_context(|| format!("{endpoint:?} is not a URL such as http://127.0.0.1:8740"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => anyhow::bail!("the endpoint must begin with http:// or https://, got {endpoint:?}"),
    };
    let host = uri
        .host()
        .ok_or_else(|| anyhow::anyhow!("the endpoint {endpoint:?} names no host"))?
        .trim_matches(['[', ']'])
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| format!("looking up {host}"))?
        .collect();
    if !https {
        plain_http_allowed(&host, port, &addresses)?;
    }
    let tcp = tokio::net::TcpStream::connect(addresses.as_slice())
        .await
        .with_context(|| format!("connecting to {host}:{port}; is the server running there?"))?;
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or(&host);
    let http_request = hyper::Request::builder()
        .method(method)
        .uri(format!("{PREFIX}{path}"))
        .header(hyper::header::HOST, authority)
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(http_body_util::Full::new(
            hyper::body::Bytes::copy_from_slice(body),
        ))?;
    if https {
        let connector = tls_connector(ca_cert)?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .with_context(|| format!("{host:?} is not a host name"))?;
        let tls = connector
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {host}:{port}"))?;
        exchange(hyper_util::rt::TokioIo::new(tls), http_request).await
    } else {
        exchange(hyper_util::rt::TokioIo::new(tcp), http_request).await
    }
}

/// Plain HTTP carries the operator token readable by anyone on the path, so it goes only to
/// this machine: every address the host name resolves to must be loopback (the connection is
/// then made to those addresses only). The server also serves plain HTTP to loopback peers only,
/// but by then the token would have crossed the network.
fn plain_http_allowed(
    host: &str,
    port: u16,
    addresses: &[std::net::SocketAddr],
) -> anyhow::Result<()> {
    if !addresses.is_empty() && addresses.iter().all(|a| a.ip().is_loopback()) {
        return Ok(());
    }
    anyhow::bail!(
        "refusing to send the admin token over plain HTTP to {host}, which is not this machine: \
         anyone on the network path could read it. Use https://{host}:{port} with --ca-cert (the \
         server needs --tls-cert and --tls-key), or run kmsd admin on the server's machine \
         against http://127.0.0.1:{port}"
    )
}

async fn exchange<T>(
    io: hyper_util::rt::TokioIo<T>,
    request: hyper::Request<http_body_util::Full<hyper::body::Bytes>>,
) -> anyhow::Result<hyper::Response<hyper::body::Incoming>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    Ok(sender.send_request(request).await?)
}

pub(crate) fn tls_connector(ca_cert: Option<&Path>) -> anyhow::Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let path = ca_cert.ok_or_else(|| {
        anyhow::anyhow!("an https endpoint needs --ca-cert: the CA certificate (PEM) that signed the server's certificate")
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
    {
        roots
            .add(cert.with_context(|| format!("reading {}", path.display()))?)
            .with_context(|| format!("{} holds a certificate rustls refuses", path.display()))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

fn print(body: &Value, output: Output) {
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(body).unwrap_or_default());
        return;
    }
    let Some(object) = body.as_object() else {
        println!("{body}");
        return;
    };
    // A listing is an object with one array of objects: print it as a table.
    if object.len() == 1
        && let Some(Value::Array(rows)) = object.values().next()
    {
        print_table(rows);
        return;
    }
    if object.is_empty() {
        println!("done");
        return;
    }
    let width = object.keys().map(String::len).max().unwrap_or(0);
    for (key, value) in object {
        match value {
            Value::Array(rows) if rows.iter().all(Value::is_object) && !rows.is_empty() => {
                println!("{key}:");
                print_table(rows);
            }
            _ => println!("{key:width$}  {}", field_cell(key, value)),
        }
    }
}

/// A field's cell: times (the `_at` fields, Unix seconds) as UTC dates, 0 as never.
fn field_cell(name: &str, value: &Value) -> String {
    match value.as_u64() {
        Some(0) if name.ends_with("_at") => "-".into(),
        Some(secs) if name.ends_with("_at") => kms_core::utc_date_time(secs),
        _ => cell(value),
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The columns a table starts with, in this order, when its rows have them.
const LEADING_COLUMNS: &[&str] = &[
    "uin",
    "id",
    "secret_id",
    "name",
    "account",
    "user",
    "enabled",
];

fn print_table(rows: &[Value]) {
    let Some(Value::Object(first)) = rows.first() else {
        println!("(none)");
        return;
    };
    // Identifying columns first; the rest as the answer names them (alphabetically).
    let mut columns: Vec<&String> = first.keys().filter(|k| *k != "document").collect();
    columns.sort_by_key(|c| {
        LEADING_COLUMNS
            .iter()
            .position(|l| l == c)
            .unwrap_or(usize::MAX)
    });
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| field_cell(c, &row[c.as_str()]))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<String>| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(columns.iter().map(|c| c.to_uppercase()).collect());
    for row in cells {
        line(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_tables_are_utc_dates() {
        use serde_json::json;
        assert_eq!(
            field_cell("created_at", &json!(1_764_000_000)),
            "2025-11-24T16:00:00Z"
        );
        assert_eq!(field_cell("created_at", &json!(0)), "-");
        assert_eq!(field_cell("uin", &json!(1_764_000_000)), "1764000000");
        assert_eq!(field_cell("name", &json!("alice")), "alice");
    }

    fn addresses(list: &[&str]) -> Vec<std::net::SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn plain_http_goes_to_loopback_only() {
        for ok in [&["127.0.0.1:8740"][..], &["[::1]:8740", "127.0.0.2:8740"]] {
            assert!(plain_http_allowed("localhost", 8740, &addresses(ok)).is_ok());
        }
        for refused in [
            &["192.0.2.1:8740"][..],
            &["127.0.0.1:8740", "192.0.2.1:8740"],
            &["[2001:db8::1]:8740"],
            &[],
        ] {
            let err = plain_http_allowed("kms.example", 8740, &addresses(refused))
                .unwrap_err()
                .to_string();
            assert!(err.contains("plain HTTP"), "{err}");
            assert!(
                err.contains("https://kms.example:8740") && err.contains("--ca-cert"),
                "{err}"
            );
        }
    }

    /// The refusal comes before any connection: a connection attempt would have failed with
    /// another error (the documentation address answers nothing).
    #[test]
    fn a_remote_plain_http_endpoint_is_refused_before_connecting() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let request = req("GET", "/accounts".into(), None);
        let err = runtime
            .block_on(send("http://192.0.2.1:9", None, "token", &request, b""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("refusing to send the admin token"), "{err}");
    }
}
