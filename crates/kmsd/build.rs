//! Names the commit kmsd is built from, for `kmsd --version`: `KMSD_COMMIT` when the build sets
//! it (a source tarball has no repository), else the repository's HEAD, else `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=KMSD_COMMIT");
    let commit = std::env::var("KMSD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(head_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=KMSD_COMMIT={commit}");
}

/// HEAD's abbreviated id; reruns when HEAD moves (a checkout, or a commit on its branch).
fn head_commit() -> Option<String> {
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    // Only files that exist: cargo reruns a build script on every build for a missing one. A
    // branch's ref is a file of its own or a line of packed-refs.
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        let path = git(&["rev-parse", "--git-path", &name])?;
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    git(&["rev-parse", "--short=12", "HEAD"])
}
