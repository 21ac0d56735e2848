//! The SFTP transport: the system OpenSSH client (`sftp`), in batch mode, with the configured
//! identity and pinned known_hosts and nothing from the user's ssh configuration. We use the stock
//! client rather than an SSH library because it is what the recipients' administrators know,
//! audit and configure (algorithms, host keys), and it keeps the job free of a cryptographic
//! dependency of its own.
//!
//! One attempt: upload under a hidden temporary name, list it and compare its size with the
//! package's, then rename it to the final name (OpenSSH's posix-rename: atomic, replacing) and
//! list the final file again. A dropped connection or a refused write leaves at most the temporary
//! file, never a partial file under the final name; the next attempt removes and rewrites it.

use std::io::Write;
use std::process::{Command, Stdio};

use super::config::SftpTarget;
use super::package::Package;

/// Send `package` to `target`; returns the size the server reports for the final file.
pub fn send(target: &SftpTarget, package: &Package) -> Result<u64, String> {
    let dir = target.remote_dir.trim_end_matches('/');
    let dir = if dir.is_empty() { "/" } else { dir };
    if dir.contains('"') || dir.contains('\n') {
        return Err(format!("remote_dir {dir:?} contains a quote or a line break"));
    }
    let join = |name: &str| if dir == "/" { format!("/{name}") } else { format!("{dir}/{name}") };
    let temporary = join(&format!(".{}.part", package.file_name));
    let final_name = join(&package.file_name);
    let local = package.path.display().to_string();
    if local.contains('"') {
        return Err(format!("the package path {local} contains a quote"));
    }

    // Session 1: replace any leftover temporary file, upload, and read back its size.
    let listing = batch(target, &format!("-rm \"{temporary}\"\nput \"{local}\" \"{temporary}\"\nls -ln \"{temporary}\"\n"), "uploading")?;
    let uploaded = size_in_listing(&listing, &temporary).ok_or_else(|| format!("the server did not list {temporary} after the upload"))?;
    if uploaded != package.bytes {
        return Err(format!("the upload of {temporary} is {uploaded} bytes on the server, the package is {} bytes: not renamed; rerun to upload it again", package.bytes));
    }
    // Session 2: only a complete upload gets the final name.
    let listing = batch(target, &format!("rename \"{temporary}\" \"{final_name}\"\nls -ln \"{final_name}\"\n"), "renaming")?;
    let delivered = size_in_listing(&listing, &final_name).ok_or_else(|| format!("the server did not list {final_name} after the rename"))?;
    if delivered != package.bytes {
        return Err(format!("{final_name} is {delivered} bytes on the server after the rename, the package is {} bytes", package.bytes));
    }
    Ok(delivered)
}

/// Run one sftp session with `commands` as its batch; its standard output on success.
fn batch(target: &SftpTarget, commands: &str, stage: &str) -> Result<String, String> {
    let mut child = Command::new("sftp")
        .args(["-b", "-", "-F", "/dev/null"])
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null"])
        .args(["-o", "ConnectTimeout=30", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3", "-o", "LogLevel=ERROR"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", target.known_hosts.display()))
        .arg("-i")
        .arg(&target.identity_file)
        .args(["-P", &target.port.to_string()])
        .arg(format!("{}@{}", target.user, target.host))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the OpenSSH sftp client (install openssh-client): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A client that died early closes its stdin; its exit status says why.
        let _ = stdin.write_all(commands.as_bytes());
    }
    let output = child.wait_with_output().map_err(|e| format!("sftp: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let detail: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let detail = detail.join("; ");
    let lower = detail.to_ascii_lowercase();
    let why = if lower.contains("permission denied") && !lower.contains("publickey") {
        "the server refused the write (permission denied on the remote folder)"
    } else if lower.contains("host key verification failed") || lower.contains("no matching host key") || lower.contains("remote host identification has changed") {
        "the server's host key is not the one in known_hosts"
    } else if lower.contains("permission denied") {
        "the server refused our key (authentication failed)"
    } else if lower.contains("connection refused") || lower.contains("timed out") || lower.contains("could not resolve") || lower.contains("no route") {
        "the server cannot be reached"
    } else if lower.contains("connection closed")
        || lower.contains("closed by remote host")
        || lower.contains("connection reset")
        || lower.contains("broken pipe")
        || lower.contains("lost connection")
        // ssh's own failure code, or sftp killed by SIGPIPE when the socket went away under it.
        || output.status.code() == Some(255)
        || output.status.code().is_none()
    {
        "the connection was lost"
    } else {
        "the sftp session failed"
    };
    Err(format!("{stage} to {}@{}:{}: {why} (sftp exit {}: {detail})", target.user, target.host, target.port, output.status.code().map_or("signal".into(), |c| c.to_string())))
}

/// The size column of `ls -ln` for `path` (the line that ends with it; sftp echoes the commands
/// as `sftp> …`, which are skipped).
fn size_in_listing(listing: &str, path: &str) -> Option<u64> {
    let name = path.rsplit('/').next().unwrap_or(path);
    listing
        .lines()
        .filter(|l| !l.starts_with("sftp>"))
        .filter(|l| l.split_whitespace().last().and_then(|p| p.rsplit('/').next()) == Some(name))
        .find_map(|l| l.split_whitespace().nth(4).and_then(|s| s.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_size_of_the_listed_file() {
        let listing = "sftp> ls -ln \"/upload/.drees-1.tar.age.part\"\n-rw-r--r--    ? 1001     1001       123456 Nov 26 15:00 /upload/.drees-1.tar.age.part\n";
        assert_eq!(size_in_listing(listing, "/upload/.drees-1.tar.age.part"), Some(123456));
        assert_eq!(size_in_listing(listing, "/upload/drees-1.tar.age"), None);
    }
}
