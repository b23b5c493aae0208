//! SoftHSM2 tokens made for one test process: a temporary token directory, its configuration
//! (SOFTHSM2_CONF, read once when the module is initialized), tokens made with
//! `softhsm2-util` and AES keys generated through the module.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use kms_hsm::{Pin, Token};
use zeroize::Zeroizing;

/// The token that holds the seal's keys.
pub const SEAL_TOKEN: &str = "kmsd-seal";
/// A token nothing logs in to but the PIN test, so its login state is its own.
pub const PIN_TOKEN: &str = "kmsd-pin";
pub const USER_PIN: &str = "user-pin-1234";
pub const SO_PIN: &str = "so-pin-5678";
/// AES-256 keys in [`SEAL_TOKEN`]; [`TWIN_KEY`] labels two of them.
pub const ROOT_KEY: &str = "kmsd-root";
pub const OTHER_KEY: &str = "kmsd-other";
pub const TWIN_KEY: &str = "kmsd-twin";

pub struct SoftHsm {
    pub module: PathBuf,
    _dir: tempfile::TempDir,
}

/// Debian's path of the module, unless KMSD_TEST_PKCS11_MODULE names another.
fn module_path() -> PathBuf {
    std::env::var_os("KMSD_TEST_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"))
}

pub fn pin(text: &str) -> Pin {
    Pin::new(Zeroizing::new(text.to_owned()))
}

/// The process's SoftHSM2, made on first use.
pub fn softhsm() -> &'static SoftHsm {
    static SOFTHSM: OnceLock<SoftHsm> = OnceLock::new();
    SOFTHSM.get_or_init(|| {
        let module = module_path();
        assert!(
            module.exists(),
            "the SoftHSM2 module {} is missing: install the softhsm2 package or set \
             KMSD_TEST_PKCS11_MODULE",
            module.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        // Before any thread of this process loads the module, which reads it once.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        for label in [SEAL_TOKEN, PIN_TOKEN] {
            let made = Command::new("softhsm2-util")
                .args(["--init-token", "--free", "--label", label])
                .args(["--pin", USER_PIN, "--so-pin", SO_PIN])
                .output()
                .expect("running softhsm2-util (package softhsm2)");
            assert!(made.status.success(), "{made:?}");
        }
        let token = Token::open(&module, SEAL_TOKEN, &pin(USER_PIN)).unwrap();
        for label in [ROOT_KEY, OTHER_KEY, TWIN_KEY, TWIN_KEY] {
            generate_aes_key(&token, label);
        }
        SoftHsm { module, _dir: dir }
    })
}

/// An AES-256 key in the token that never leaves it, as an operator would make the seal's.
fn generate_aes_key(token: &Token, label: &str) {
    token
        .generate_aes256(label.as_bytes(), label.as_bytes())
        .unwrap();
}
