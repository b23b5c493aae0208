//! A PKCS#11 token: its module, loaded once per process, the login, and the sessions every
//! thread borrows.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
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

/// A token found by its label and logged in as the user.
pub struct Token {
    module: Pkcs11,
    slot: Slot,
    label: String,
    /// Held open for the life of the token so the login lasts: PKCS#11 logs an application out
    /// of a token when its last session there closes.
    _login_session: Mutex<Session>,
    idle: Mutex<Vec<Session>>,
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

impl Token {
    /// Loads `module_path`, finds the one token labelled `label` and logs in with `pin`.
    pub fn open(module_path: &Path, label: &str, pin: &Pin) -> Result<Self, HsmError> {
        let module = module(module_path)?;
        let slot = find_slot(&module, module_path, label)?;
        let session = module.open_rw_session(slot).map_err(|e| HsmError::Token {
            label: label.to_owned(),
            reason: format!("opening a session: {}", describe(&e)),
        })?;
        let auth = AuthPin::from(pin.expose());
        match session.login(UserType::User, Some(&auth)) {
            // Another token object of this process over the same token logged in already.
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid, _)) => {
                return Err(HsmError::Login {
                    label: label.to_owned(),
                    reason: "the PIN is incorrect".into(),
                });
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                return Err(HsmError::Login {
                    label: label.to_owned(),
                    reason: "the user PIN is locked".into(),
                });
            }
            Err(e) => {
                return Err(HsmError::Login {
                    label: label.to_owned(),
                    reason: describe(&e),
                });
            }
        }
        Ok(Self {
            module,
            slot,
            label: label.to_owned(),
            _login_session: Mutex::new(session),
            idle: Mutex::new(Vec::new()),
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// What a failed `operation` in this token says, for an error.
    pub(crate) fn failure(&self, operation: &str, error: &CkError) -> String {
        format!(
            "PKCS#11 token {:?}, {operation}: {}",
            self.label,
            describe(error)
        )
    }

    /// Runs `operation` on a session of this token that no other thread uses meanwhile. A
    /// session that failed for a reason other than its input is closed, not reused.
    pub fn with_session<T>(
        &self,
        operation: impl FnOnce(&Session) -> cryptoki::error::Result<T>,
    ) -> cryptoki::error::Result<T> {
        let _beside_no_generation = GENERATING.read().unwrap_or_else(|e| e.into_inner());
        self.on_session(operation)
    }

    fn on_session<T>(
        &self,
        operation: impl FnOnce(&Session) -> cryptoki::error::Result<T>,
    ) -> cryptoki::error::Result<T> {
        let session = match lock(&self.idle).pop() {
            Some(session) => session,
            None => self.module.open_rw_session(self.slot)?,
        };
        let result = operation(&session);
        let reusable = match &result {
            Ok(_) => true,
            Err(CkError::Pkcs11(rv, _)) => !matches!(
                rv,
                RvError::SessionHandleInvalid
                    | RvError::SessionClosed
                    | RvError::DeviceRemoved
                    | RvError::DeviceError
                    | RvError::TokenNotPresent
                    | RvError::OperationActive
            ),
            Err(_) => false,
        };
        if reusable {
            let mut idle = lock(&self.idle);
            if idle.len() < MAX_IDLE_SESSIONS {
                idle.push(session);
            }
        }
        result
    }

    /// Runs a key generation alone in the process (see [`GENERATING`]). Generation is rare
    /// (CreateKey in a cluster), so holding other operations back meanwhile costs little.
    pub fn generating<T>(
        &self,
        generation: impl FnOnce(&Session) -> cryptoki::error::Result<T>,
    ) -> cryptoki::error::Result<T> {
        let _alone = GENERATING.write().unwrap_or_else(|e| e.into_inner());
        self.on_session(generation)
    }

    /// Makes an AES-256 key in the token that never leaves it (sensitive, not extractable), for
    /// encryption and decryption, with `label` and `id`.
    pub fn generate_aes256(
        &self,
        label: &[u8],
        id: &[u8],
    ) -> cryptoki::error::Result<ObjectHandle> {
        let mut template = private_attributes(label, id);
        template.extend([
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::ValueLen(32u64.into()),
        ]);
        self.generating(|session| session.generate_key(&Mechanism::AesKeyGen, &template))
    }

    /// The one secret key of `key_type` labelled `label`.
    pub fn find_secret_key(
        &self,
        label: &str,
        key_type: KeyType,
    ) -> Result<ObjectHandle, HsmError> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(key_type),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let found = self
            .with_session(|session| session.find_objects(&template))
            .map_err(|e| HsmError::Token {
                label: self.label.clone(),
                reason: format!("looking for the key {label:?}: {}", describe(&e)),
            })?;
        match found[..] {
            [key] => Ok(key),
            [] => Err(HsmError::NoKey {
                key: label.to_owned(),
                token: self.label.clone(),
            }),
            _ => Err(HsmError::Token {
                label: self.label.clone(),
                reason: format!(
                    "{} keys are labelled {label:?}; the label must name one",
                    found.len()
                ),
            }),
        }
    }
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
