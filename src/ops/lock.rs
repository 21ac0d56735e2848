//! The run lock: an advisory lock (flock) on `<out>/state/run.lock`, held for the whole of a command
//! that writes under the output folder. A second run finds it held and stops at once, naming the
//! holder's PID, instead of interleaving its writes with the first one's.
//!
//! flock and not a PID file alone: the kernel releases the lock when the holder dies, however it
//! dies (kill -9, power loss of the process, OOM), so a crash never leaves a stale lock behind. The
//! PID written inside is only for the message. A run that ends normally removes the file (and the
//! state folder if nothing else is in it), so a refused night leaves the output folder as it was;
//! because of that, a run that gets the lock checks that the file it locked is still the one at
//! the path, and starts over if the previous holder removed it in between.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Folder of the job's own state under the output folder.
pub const STATE_DIR: &str = "state";
pub const LOCK_FILE: &str = "run.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another run holds the lock {path} ({holder}); this run did nothing. Wait for it to finish, or check that process; the lock is released automatically when it exits")]
    Held { path: String, holder: String },
    #[error("run lock {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The held lock; dropping it removes the file and releases the lock.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked: a run that opened it before sees, once it gets the lock, that
        // the path no longer names this file, and takes a fresh one (see `acquire`).
        let _ = fs::remove_file(&self.path);
        if let Some(dir) = self.path.parent() {
            let _ = fs::remove_dir(dir);
        }
        let _ = self.file.unlock();
    }
}

/// The lock file of an output folder.
pub fn lock_path(out_dir: &Path) -> PathBuf {
    out_dir.join(STATE_DIR).join(LOCK_FILE)
}

/// Take the run lock of `out_dir` without waiting: a held lock is an error naming the holder.
pub fn acquire(out_dir: &Path) -> Result<RunLock, LockError> {
    let path = lock_path(out_dir);
    let io = |source| LockError::Io { path: path.display().to_string(), source };
    let mut file = loop {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io)?;
        }
        // Not truncated on open: the holder's PID must still be there for the run that finds it held.
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held { path: path.display().to_string(), holder: describe_holder(&text) });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        if still_at_path(&file, &path) {
            break file;
        }
        // The previous holder removed the file between our open and our lock: lock the new one.
    };
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    writeln!(file, "{}", std::process::id()).and_then(|()| file.flush()).map_err(io)?;
    Ok(RunLock { file, path })
}

/// Whether `path` still names the open `file` (same device and inode).
fn still_at_path(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// What the lock file says about its holder: it writes its PID right after locking, so an empty
/// file means we looked in between.
fn describe_holder(text: &str) -> String {
    match text.trim().parse::<u32>() {
        Ok(pid) => format!("pid {pid}"),
        Err(_) => "pid not yet written".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_ones_pid_then_admitted() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).unwrap();
        assert_eq!(fs::read_to_string(first.path()).unwrap().trim(), std::process::id().to_string());
        // flock locks belong to the open file description: a second open in the same process
        // conflicts exactly as another process would.
        let e = acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(e.contains("another run holds the lock"), "{e}");
        drop(first);
        assert!(!lock_path(dir.path()).exists() && !dir.path().join(STATE_DIR).exists(), "a finished run leaves nothing");
        let again = acquire(dir.path()).unwrap();
        drop(again);
    }

    #[test]
    fn a_lock_file_removed_by_its_previous_holder_is_not_locked_again() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).unwrap();
        // Someone opened the file while it was held; the holder then finished and removed it.
        let stale = File::open(lock_path(dir.path())).unwrap();
        drop(first);
        assert!(!still_at_path(&stale, &lock_path(dir.path())));
        let second = acquire(dir.path()).unwrap();
        assert!(!still_at_path(&stale, second.path()), "the new holder locked a fresh file");
        assert!(acquire(dir.path()).is_err());
    }

    #[test]
    fn the_state_folder_stays_when_it_holds_other_state() {
        let dir = tempfile::tempdir().unwrap();
        let lock = acquire(dir.path()).unwrap();
        fs::write(dir.path().join(STATE_DIR).join("publish.json"), "{}").unwrap();
        drop(lock);
        assert!(dir.path().join(STATE_DIR).join("publish.json").exists());
        assert!(!lock_path(dir.path()).exists());
    }

    #[test]
    fn holder_description() {
        assert_eq!(describe_holder("1234\n"), "pid 1234");
        assert_eq!(describe_holder(""), "pid not yet written");
    }
}
