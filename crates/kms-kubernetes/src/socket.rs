//! The plugin's Unix socket: only its owner may connect (mode 0600 from the moment the path
//! exists), a stale socket of a plugin that died is replaced, anything else at the path is
//! refused, and the path is removed when the plugin stops.

use std::io;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

/// A bound socket; its path is removed when this drops.
pub struct BoundSocket {
    pub listener: UnixListener,
    pub path: SocketPath,
}

/// The path of a bound socket, removed on drop.
pub struct SocketPath(PathBuf);

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Binds `path`. The socket is bound under a temporary name beside it, made 0600, then renamed
/// onto `path`, so no one can connect through a wider mode in between.
pub fn bind(path: &Path) -> Result<BoundSocket, String> {
    clear_stale(path)?;
    let file_name = path
        .file_name()
        .ok_or_else(|| format!("the socket path {} names no file", path.display()))?;
    let mut temporary_name = file_name.to_os_string();
    temporary_name.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary_name);
    let _ = std::fs::remove_file(&temporary);
    let listener = UnixListener::bind(&temporary)
        .map_err(|e| format!("binding the socket {}: {e}", temporary.display()))?;
    let placed = std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temporary);
        return Err(format!("placing the socket at {}: {e}", path.display()));
    }
    Ok(BoundSocket {
        listener,
        path: SocketPath(path.to_owned()),
    })
}

/// Removes a socket no process listens on; refuses a live socket or any other file.
fn clear_stale(path: &Path) -> Result<(), String> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    if !metadata.file_type().is_socket() {
        return Err(format!(
            "{} exists and is not a socket; refusing to replace it",
            path.display()
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(format!(
            "a process is listening on {}; is another plugin running?",
            path.display()
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)
            .map_err(|e| format!("removing the stale socket {}: {e}", path.display())),
        Err(e) => Err(format!("probing the socket {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_owner_only_and_removes_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kms.sock");
        let socket = bind(&path).unwrap();
        let metadata = std::fs::metadata(&path).unwrap();
        assert!(metadata.file_type().is_socket());
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A second plugin on a live socket is refused.
        assert!(bind(&path).err().unwrap().contains("listening"));
        drop(socket);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn replaces_a_stale_socket_and_refuses_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kms.sock");
        // A socket left by a process that died: bound, never removed.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let socket = bind(&path).unwrap();
        drop(socket);

        std::fs::write(&path, b"not a socket").unwrap();
        assert!(bind(&path).err().unwrap().contains("not a socket"));
        assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
    }
}
