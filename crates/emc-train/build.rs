//! Records the git commit the crate was built from (provenance of every checkpoint and
//! result file). Builds outside a git checkout record `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    let value = if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    };
    println!("cargo:rustc-env=EMC_GIT_COMMIT={value}");
    // HEAD, the index and the branch ref, wherever git keeps them (a worktree's `.git` is a
    // file), and only paths that exist: a missing one would rerun this script, and rebuild
    // every crate that depends on this one, on every build.
    let mut watched = vec!["HEAD".into(), "index".into(), "packed-refs".into()];
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(head_ref);
    }
    for name in watched {
        let path = git(&["rev-parse", "--path-format=absolute", "--git-path", &name]);
        if let Some(path) = path.filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-env-changed=EMC_GIT_COMMIT");
}
