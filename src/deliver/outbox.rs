//! The outbox transport: the package is copied into a local folder (a mounted share, a folder
//! another tool collects) under a hidden temporary name, flushed, its size checked, then renamed,
//! so whoever watches the folder never sees a partial package under its final name.

use std::fs;
use std::path::Path;

use super::package::Package;

/// Copy `package` into `dir`; returns the size of the delivered file.
pub fn send(dir: &Path, package: &Package) -> Result<u64, String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create the outbox {}: {e}", dir.display()))?;
    let temporary = dir.join(format!(".{}.part", package.file_name));
    let final_path = dir.join(&package.file_name);
    let copied = fs::copy(&package.path, &temporary).map_err(|e| format!("cannot write {}: {e}", temporary.display()));
    let copied = copied.and_then(|n| fs::File::open(&temporary).and_then(|f| f.sync_all()).map(|_| n).map_err(|e| format!("cannot flush {}: {e}", temporary.display())));
    match copied {
        Ok(n) if n == package.bytes => {}
        Ok(n) => {
            let _ = fs::remove_file(&temporary);
            return Err(format!("{} is {n} bytes, the package {} bytes: not renamed", temporary.display(), package.bytes));
        }
        Err(e) => {
            let _ = fs::remove_file(&temporary);
            return Err(e);
        }
    }
    fs::rename(&temporary, &final_path).map_err(|e| format!("cannot rename {} to {}: {e}", temporary.display(), final_path.display()))?;
    fs::metadata(&final_path).map(|m| m.len()).map_err(|e| format!("{}: {e}", final_path.display()))
}
