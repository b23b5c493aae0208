//! A PKCS#11 token: its module, loaded once per process, the login, the sessions every thread
//! borrows, and the reconnection after the token was lost.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock, TryLockError};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use crate::{HsmError, Pin};

/// Modules loaded by this process, by path. PKCS#11 allows one `C_Initialize` per module and
/// process, so every token of a module shares its context, which is never finalized.
static MODULES: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());
/// Taken exclusively while a key is generated, in any token, and shared by every other
/// operation: SoftHSM2 answers `CKR_GENERAL_ERROR` now and then to a generation that runs
/// beside other operations of the process (it writes the new object to its store while other
/// sessions read it), even in another token.
static GENERATING: RwLock<()> = RwLock::new(());

/// Idle sessions kept for reuse; a busier moment opens more and closes the surplus afterwards.
const MAX_IDLE_SESSIONS: usize = 32;
/// The least time between two attempts to reach a lost token, so an HSM that is down is not
/// hammered and callers meanwhile get the transient refusal at once.
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Loads and initializes the module at `path`, or hands out the context this process already
/// made for it.
fn module(path: &Path) -> Result<Pkcs11, HsmError> {
    let mut modules = lock(&MODULES);
    if let Some((_, context)) = modules.iter().find(|(loaded, _)| loaded == path) {
        return Ok(context.clone());
    }
    let failed = |reason: String| HsmError::Module {
        path: path.display().to_string(),
        reason,
    };
    let context = Pkcs11::new(path).map_err(|e| failed(loading_reason(&e)))?;
    // The library may use the OS's own locks: sessions are used from many threads.
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(failed(describe(&e))),
    }
    modules.push((path.to_owned(), context.clone()));
    Ok(context)
}

fn loading_reason(error: &CkError) -> String {
    match error {
        CkError::LibraryLoading(e) => e.to_string(),
        other => describe(other),
    }
}

/// A short name of what a PKCS#11 call answered: the return value's name (the library's own
/// descriptions run to several sentences).
pub(crate) fn describe(error: &CkError) -> String {
    match error {
        CkError::Pkcs11(rv, function) => format!("{function} answered {rv:?}"),
        other => other.to_string(),
    }
}

/// Whether `error` says the token, or this process's sessions and login there, are gone: the
/// device or its connection failed, the token left its slot, or the sessions were closed or
/// logged out under us (a token that restarted). The input of the call is not at fault, and
/// logging in again may succeed. `CKR_GENERAL_ERROR` is not among them: SoftHSM2 answers it to
/// an AES-GCM tag that does not verify.
fn lost(error: &CkError) -> bool {
    matches!(
        error,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::SlotIdInvalid
                | RvError::CryptokiNotInitialized,
            _
        )
    )
}

/// Whether `error` says an object handle no longer names an object: handles may change when
/// the token is logged in to again, so the object is looked up again.
fn stale_handle(error: &CkError) -> bool {
    matches!(
        error,
        CkError::Pkcs11(RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid, _)
    )
}

/// Fails with `CKR_USER_NOT_LOGGED_IN` when `session` is no longer logged in as the user:
/// SoftHSM2 answers a logged-out application with `CKR_OBJECT_HANDLE_INVALID` (it drops the
/// handles of private objects) and searches that find nothing, where the standard's code would
/// say why. Asked only after such an answer, so a working session costs no extra call.
pub(crate) fn require_login(session: &Session) -> cryptoki::error::Result<()> {
    match session.get_session_info()?.session_state() {
        SessionState::RoUser | SessionState::RwUser => Ok(()),
        _ => Err(CkError::Pkcs11(
            RvError::UserNotLoggedIn,
            Function::GetSessionInfo,
        )),
    }
}

/// Why an operation in a token failed.
#[derive(Debug)]
pub enum TokenError {
    /// The token cannot be reached now; a later call may succeed once it is back.
    Unreachable(String),
    /// The token answered the call with this refusal.
    Call(CkError),
    /// The objects a stored reference names are not one object of the token (any more).
    NotOne(usize),
}

/// A token found by its label and logged in as the user, logged in again after it was lost.
pub struct Token {
    module: Pkcs11,
    module_path: PathBuf,
    label: String,
    pin: Pin,
    link: Mutex<Link>,
    /// Held by the one caller that reconnects; the others answer at once meanwhile.
    reconnecting: Mutex<()>,
    /// Idle sessions with the connection they belong to.
    idle: Mutex<Vec<(u64, Session)>>,
}

/// The token's connection: its slot and the session that holds the login, while there is one.
struct Link {
    connected: Option<Connection>,
    /// Counts connections; sessions and object handles of an earlier one are not used.
    epoch: u64,
    last_attempt: Option<Instant>,
    /// Why the token is not connected, for the refusals meanwhile.
    down_reason: String,
    /// The PIN was refused: it is not tried again, since an HSM locks a PIN after a few wrong
    /// tries.
    pin_refused: bool,
}

struct Connection {
    slot: Slot,
    /// Held open while connected so the login lasts: PKCS#11 logs an application out of a token
    /// when its last session there closes.
    _login_session: Session,
}

/// A token object named by attributes (its label or CKA_ID, class and type), with its handle
/// in the current connection.
pub struct TokenObject {
    template: Vec<Attribute>,
    handle: Mutex<Option<(u64, ObjectHandle)>>,
}

impl TokenObject {
    fn handle(&self, epoch: u64) -> Option<ObjectHandle> {
        match *lock(&self.handle) {
            Some((found_in, handle)) if found_in == epoch => Some(handle),
            _ => None,
        }
    }

    fn forget(&self) {
        *lock(&self.handle) = None;
    }
}

/// The attributes of a secret or private key that lives in the token and never leaves it.
pub fn private_attributes(label: &[u8], id: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Id(id.to_vec()),
        Attribute::Label(label.to_vec()),
    ]
}

/// Finds the token labelled `label`, opens a session and logs in as the user.
fn connect(
    module: &Pkcs11,
    module_path: &Path,
    label: &str,
    pin: &Pin,
) -> Result<Connection, HsmError> {
    let slot = find_slot(module, module_path, label)?;
    let session = module.open_rw_session(slot).map_err(|e| HsmError::Token {
        label: label.to_owned(),
        reason: format!("opening a session: {}", describe(&e)),
    })?;
    let auth = AuthPin::from(pin.expose());
    let refused = |reason: &str| HsmError::PinRefused {
        label: label.to_owned(),
        reason: reason.to_owned(),
    };
    match session.login(UserType::User, Some(&auth)) {
        // Another token object of this process over the same token logged in already.
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid, _)) => {
            return Err(refused("the PIN is incorrect"));
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
            return Err(refused("the user PIN is locked"));
        }
        Err(e) => {
            return Err(HsmError::Login {
                label: label.to_owned(),
                reason: describe(&e),
            });
        }
    }
    Ok(Connection {
        slot,
        _login_session: session,
    })
}

impl Token {
    /// Loads `module_path`, finds the one token labelled `label` and logs in with `pin`.
    pub fn open(module_path: &Path, label: &str, pin: &Pin) -> Result<Self, HsmError> {
        let module = module(module_path)?;
        let connection = connect(&module, module_path, label, pin)?;
        Ok(Self {
            module,
            module_path: module_path.to_owned(),
            label: label.to_owned(),
            pin: pin.clone(),
            link: Mutex::new(Link {
                connected: Some(connection),
                epoch: 0,
                last_attempt: None,
                down_reason: String::new(),
                pin_refused: false,
            }),
            reconnecting: Mutex::new(()),
            idle: Mutex::new(Vec::new()),
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// What a failed `operation` in this token says, for an error.
    pub(crate) fn failure(&self, operation: &str, error: &TokenError) -> String {
        let what = match error {
            TokenError::Unreachable(reason) => format!("cannot be reached now ({reason})"),
            TokenError::Call(e) => describe(e),
            TokenError::NotOne(found) => format!("it holds {found} objects of the stored name"),
        };
        format!("PKCS#11 token {:?}, {operation}: {what}", self.label)
    }

    /// Runs `operation` on a session of this token that no other thread uses meanwhile. When
    /// the token was lost, it is logged in to again and `operation` runs once more.
    pub fn with_session<T>(
        &self,
        mut operation: impl FnMut(&Session) -> cryptoki::error::Result<T>,
    ) -> Result<T, TokenError> {
        let _beside_no_generation = GENERATING.read().unwrap_or_else(|e| e.into_inner());
        self.retrying(
            |session, _| operation(session),
            |e| lost(e) || stale_handle(e),
        )
    }

    /// Runs `operation` on `object`'s handle in a session, as [`Token::with_session`] does;
    /// the object is looked up again in a new connection, or when the token says its handle
    /// no longer names it.
    pub fn with_object<T>(
        &self,
        object: &TokenObject,
        mut operation: impl FnMut(&Session, ObjectHandle) -> cryptoki::error::Result<T>,
    ) -> Result<T, TokenError> {
        let _beside_no_generation = GENERATING.read().unwrap_or_else(|e| e.into_inner());
        self.retrying(
            |session, epoch| {
                let handle = match object.handle(epoch) {
                    Some(handle) => handle,
                    None => {
                        let found = session.find_objects(&object.template)?;
                        let [handle] = found[..] else {
                            if found.is_empty() {
                                require_login(session)?;
                            }
                            return Ok(Err(TokenError::NotOne(found.len())));
                        };
                        *lock(&object.handle) = Some((epoch, handle));
                        handle
                    }
                };
                match operation(session, handle) {
                    Err(e) if stale_handle(&e) => {
                        object.forget();
                        require_login(session)?;
                        Err(e)
                    }
                    other => other.map(Ok),
                }
            },
            |e| lost(e) || stale_handle(e),
        )
        .and_then(|answer| answer)
    }

    /// Finds the one object that `template` names, and keeps what names it to find it again.
    pub fn find_object(&self, template: Vec<Attribute>) -> Result<TokenObject, TokenError> {
        let object = TokenObject {
            template,
            handle: Mutex::new(None),
        };
        self.with_object(&object, |_, _| Ok(()))?;
        Ok(object)
    }

    /// Runs a key generation alone in the process (see [`GENERATING`]). Generation is rare
    /// (CreateKey in a cluster), so holding other operations back meanwhile costs little. It
    /// runs again only when the token refused the session before generating anything: a
    /// device that failed midway may have made the key, and a second would be made.
    pub fn generating<T>(
        &self,
        mut generation: impl FnMut(&Session) -> cryptoki::error::Result<T>,
    ) -> Result<T, TokenError> {
        let _alone = GENERATING.write().unwrap_or_else(|e| e.into_inner());
        self.retrying(|session, _| generation(session), not_begun)
    }

    /// Runs `operation`, and once more when its failure passes `again` (the token was lost
    /// and is logged in to anew, or an object's handle went stale). Only operations that may
    /// run twice come here: a GCM encryption runs again with the same IV over the same input,
    /// so it gives the same output.
    fn retrying<T>(
        &self,
        mut operation: impl FnMut(&Session, u64) -> cryptoki::error::Result<T>,
        again: fn(&CkError) -> bool,
    ) -> Result<T, TokenError> {
        let result = match self.on_session(&mut operation) {
            Err(TokenError::Call(e)) if again(&e) => self.on_session(&mut operation),
            first => first,
        };
        match result {
            Err(TokenError::Call(e)) if lost(&e) => Err(TokenError::Unreachable(describe(&e))),
            other => other,
        }
    }

    /// Runs `operation` once on a borrowed session, which goes back to the pool unless the
    /// token was lost or the library left an operation active in it.
    fn on_session<T>(
        &self,
        operation: impl FnOnce(&Session, u64) -> cryptoki::error::Result<T>,
    ) -> Result<T, TokenError> {
        let (epoch, session) = self.borrow()?;
        let result = operation(&session, epoch);
        match &result {
            Err(e) if lost(e) => self.lose(epoch, e),
            Err(CkError::Pkcs11(RvError::OperationActive, _)) => {}
            _ => {
                let mut idle = lock(&self.idle);
                if idle.len() < MAX_IDLE_SESSIONS {
                    idle.push((epoch, session));
                }
            }
        }
        result.map_err(TokenError::Call)
    }

    /// An idle session of the current connection, or a new one.
    fn borrow(&self) -> Result<(u64, Session), TokenError> {
        let (epoch, slot) = self.connection()?;
        loop {
            let popped = lock(&self.idle).pop();
            match popped {
                Some((of, session)) if of == epoch => return Ok((epoch, session)),
                // Of an earlier connection: closed as it drops.
                Some(_) => {}
                None => break,
            }
        }
        match self.module.open_rw_session(slot) {
            Ok(session) => Ok((epoch, session)),
            Err(e) => {
                if lost(&e) {
                    self.lose(epoch, &e);
                }
                Err(TokenError::Call(e))
            }
        }
    }

    /// The current connection's number and slot, connecting again if the token was lost.
    fn connection(&self) -> Result<(u64, Slot), TokenError> {
        {
            let link = lock(&self.link);
            if let Some(connection) = &link.connected {
                return Ok((link.epoch, connection.slot));
            }
        }
        self.reconnect()
    }

    /// Finds the token again, opens a session and logs in: by one caller at a time, at most
    /// once per [`RECONNECT_INTERVAL`], and never again after the PIN was refused. Every other
    /// caller is refused at once meanwhile.
    fn reconnect(&self) -> Result<(u64, Slot), TokenError> {
        let _alone = match self.reconnecting.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                return Err(TokenError::Unreachable(
                    lock(&self.link).down_reason.clone(),
                ));
            }
        };
        {
            let mut link = lock(&self.link);
            if let Some(connection) = &link.connected {
                return Ok((link.epoch, connection.slot));
            }
            let too_soon = link
                .last_attempt
                .is_some_and(|at| at.elapsed() < RECONNECT_INTERVAL);
            if link.pin_refused || too_soon {
                return Err(TokenError::Unreachable(link.down_reason.clone()));
            }
            link.last_attempt = Some(Instant::now());
        }
        let connected = connect(&self.module, &self.module_path, &self.label, &self.pin);
        let mut link = lock(&self.link);
        match connected {
            Ok(connection) => {
                let slot = connection.slot;
                link.connected = Some(connection);
                link.epoch += 1;
                link.down_reason.clear();
                tracing::info!(token = %self.label, "PKCS#11 token reached and logged in again");
                Ok((link.epoch, slot))
            }
            Err(e) => {
                let reason = e.to_string();
                if matches!(e, HsmError::PinRefused { .. }) {
                    link.pin_refused = true;
                    tracing::error!(
                        token = %self.label,
                        error = %reason,
                        "PKCS#11 token: the PIN was refused and is not tried again; calls that \
                         need the token fail until kmsd restarts with the right PIN"
                    );
                } else if reason != link.down_reason {
                    tracing::warn!(token = %self.label, error = %reason, "PKCS#11 token still unreachable");
                }
                link.down_reason = reason.clone();
                Err(TokenError::Unreachable(reason))
            }
        }
    }

    /// Marks the connection `epoch` lost (unless a newer one replaced it already): its
    /// sessions are closed and the next call connects again.
    fn lose(&self, epoch: u64, error: &CkError) {
        let lost = {
            let mut link = lock(&self.link);
            if link.epoch != epoch || link.connected.is_none() {
                return;
            }
            link.down_reason = describe(error);
            tracing::warn!(
                token = %self.label,
                error = %link.down_reason,
                "PKCS#11 token lost; logging in again"
            );
            link.connected.take()
        };
        drop(lost);
        lock(&self.idle).clear();
    }

    /// Makes an AES-256 key in the token that never leaves it (sensitive, not extractable), for
    /// encryption and decryption, with `label` and `id`.
    pub fn generate_aes256(&self, label: &[u8], id: &[u8]) -> Result<(), TokenError> {
        let mut template = private_attributes(label, id);
        template.extend([
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::ValueLen(32u64.into()),
        ]);
        self.generating(|session| session.generate_key(&Mechanism::AesKeyGen, &template))
            .map(drop)
    }

    /// The one secret key of `key_type` labelled `label`.
    pub fn find_secret_key(&self, label: &str, key_type: KeyType) -> Result<TokenObject, HsmError> {
        let template = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(key_type),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        self.find_object(template).map_err(|e| match e {
            TokenError::NotOne(0) => HsmError::NoKey {
                key: label.to_owned(),
                token: self.label.clone(),
            },
            TokenError::NotOne(found) => HsmError::Token {
                label: self.label.clone(),
                reason: format!("{found} keys are labelled {label:?}; the label must name one"),
            },
            other => HsmError::Token {
                label: self.label.clone(),
                reason: self.failure(&format!("looking for the key {label:?}"), &other),
            },
        })
    }
}

/// Whether the token refused the session or login before the call did anything, so even a
/// key generation may run again.
fn not_begun(error: &CkError) -> bool {
    matches!(
        error,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid | RvError::SessionClosed | RvError::UserNotLoggedIn,
            _
        )
    )
}

/// The slot of the one token labelled `label`; the refusal names the labels there are.
fn find_slot(module: &Pkcs11, module_path: &Path, label: &str) -> Result<Slot, HsmError> {
    let token_error = |reason: String| HsmError::Token {
        label: label.to_owned(),
        reason,
    };
    let slots = module
        .get_slots_with_token()
        .map_err(|e| token_error(format!("listing the slots: {}", describe(&e))))?;
    let mut matching = Vec::new();
    let mut labels = Vec::new();
    for slot in slots {
        let info = module
            .get_token_info(slot)
            .map_err(|e| token_error(format!("reading slot {slot}: {}", describe(&e))))?;
        let found = info.label().trim_end();
        if found == label {
            matching.push(slot);
        } else if info.token_initialized() {
            labels.push(format!("{found:?}"));
        }
    }
    match matching[..] {
        [slot] => Ok(slot),
        [] => Err(HsmError::NoToken {
            label: label.to_owned(),
            module: module_path.display().to_string(),
            others: if labels.is_empty() {
                "it has no initialized token".into()
            } else {
                format!("its tokens are {}", labels.join(", "))
            },
        }),
        _ => Err(token_error(format!(
            "{} tokens have this label; it must name one",
            matching.len()
        ))),
    }
}
