//! A real OpenSSH server for the delivery tests: Debian's /usr/sbin/sshd on 127.0.0.1, on a free
//! port, with a host key generated for the test, key-only authentication, and one SFTP-only user
//! locked in a chroot (`Match User` + `ChrootDirectory` + `ForceCommand internal-sftp`), as a
//! recipient's drop box is usually set up. Stopped, and its chroot removed, when dropped.
//!
//! sshd demands a chroot owned by root and writable by no one else along its whole path, so the
//! chroot lives under /srv (not /tmp, which is world-writable); the user writes in its `upload`
//! folder. The tests run as root (they create the system user once).
//!
//! `CuttingProxy` sits between the client and the server and cuts the connection after a given
//! number of bytes: a real dropped connection in the middle of an upload.

#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The chrooted SFTP user the tests deliver as.
pub const SFTP_USER: &str = "ror-sftp-test";
/// Where that user may write, as its chrooted session sees it.
pub const REMOTE_DIR: &str = "/upload";

pub struct Sshd {
    child: Child,
    pub port: u16,
    /// Config, keys, known_hosts, log.
    pub dir: tempfile::TempDir,
    /// The chroot (root-owned); the user's files are in `upload_dir()`.
    pub chroot: PathBuf,
    /// The client's private key (the job's identity_file).
    pub identity: PathBuf,
    /// A known_hosts pinning this server's host key.
    pub known_hosts: PathBuf,
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn keygen(path: &Path) {
    run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "ror-opendata-test", "-f"]).arg(path));
}

/// The uid of the SFTP user, created on first use (by whichever test gets there first).
fn sftp_uid() -> u32 {
    let id = || Command::new("id").args(["-u", SFTP_USER]).output().ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<u32>().unwrap());
    if let Some(uid) = id() {
        return uid;
    }
    // Two test processes may race here: whichever loses sees the user exist afterwards.
    let _ = Command::new("useradd").args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SFTP_USER]).output();
    // A locked password ("!") makes sshd refuse even key logins; "*" only disables passwords.
    let _ = Command::new("usermod").args(["-p", "*", SFTP_USER]).output();
    id().unwrap_or_else(|| panic!("cannot create the test user {SFTP_USER} (the delivery tests need root)"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Sshd {
    pub fn start() -> Sshd {
        let uid = sftp_uid();
        let dir = tempfile::tempdir().unwrap();
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let chroot = PathBuf::from(format!("/srv/ror-opendata-sftp-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst)));
        let _ = fs::remove_dir_all(&chroot);
        fs::create_dir_all(chroot.join("upload")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&chroot, fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(chroot.join("upload"), Some(uid), None).unwrap();
        fs::set_permissions(chroot.join("upload"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir_all("/run/sshd").unwrap();

        let host_key = dir.path().join("host_ed25519");
        let identity = dir.path().join("client_ed25519");
        keygen(&host_key);
        keygen(&identity);
        let authorized = dir.path().join("authorized_keys");
        fs::copy(identity.with_extension("pub"), &authorized).unwrap();
        let port = free_port();
        let config = dir.path().join("sshd_config");
        fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\nPubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin no\nAllowUsers {SFTP_USER}\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\nMatch User {SFTP_USER}\n  ChrootDirectory {}\n  ForceCommand internal-sftp\n  AllowTcpForwarding no\n  X11Forwarding no\n",
                host_key.display(),
                dir.path().join("sshd.pid").display(),
                authorized.display(),
                chroot.display()
            ),
        )
        .unwrap();
        let log = fs::File::create(dir.path().join("sshd.log")).unwrap();
        let child = Command::new("/usr/sbin/sshd").arg("-D").arg("-e").arg("-f").arg(&config).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().expect("/usr/sbin/sshd starts (scripts/test installs openssh-server)");
        let host_public = fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let mut fields = host_public.split_whitespace();
        let known_hosts = dir.path().join("known_hosts");
        // Also for any port: the tests reach the same server through a proxy on another port.
        let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
        fs::write(&known_hosts, format!("[127.0.0.1]:{port} {kind} {key}\n[127.0.0.1]:* {kind} {key}\n")).unwrap();
        let mut server = Sshd { child, port, dir, chroot, identity, known_hosts };
        server.wait_ready();
        server
    }

    /// Wait until sshd answers with its banner (or fail with its log if it exited).
    fn wait_ready(&mut self) {
        for _ in 0..500 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("sshd exited ({status}) before accepting connections:\n{}", self.log());
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut banner = [0u8; 7];
                if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0" {
                    return;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("sshd did not accept connections on 127.0.0.1:{}:\n{}", self.port, self.log());
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The user's upload folder, seen from outside the chroot.
    pub fn upload_dir(&self) -> PathBuf {
        self.chroot.join("upload")
    }

    /// The `[recipients.<name>]` section delivering to this server (on `port`: this server's, or
    /// a proxy's in front of it).
    pub fn recipient_toml(&self, name: &str, age_recipient: &str, port: u16) -> String {
        format!(
            "[recipients.{name}]\nage_recipient = \"{age_recipient}\"\nattempts = 2\nretry_delay_seconds = 0\n[recipients.{name}.sftp]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"{SFTP_USER}\"\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\nremote_dir = \"{REMOTE_DIR}\"\n",
            self.identity.display(),
            self.known_hosts.display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.chroot);
    }
}

/// A TCP proxy on 127.0.0.1 that forwards to `127.0.0.1:target` and cuts every connection once
/// `limit` bytes went from the client to the server. Stops accepting when dropped.
pub struct CuttingProxy {
    pub port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// Connections cut so far.
    pub cuts: Arc<AtomicUsize>,
}

impl CuttingProxy {
    pub fn start(target: u16, limit: usize) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cuts = Arc::new(AtomicUsize::new(0));
        let (stop2, cuts2) = (stop.clone(), cuts.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut s_read, mut c_write) = (server.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_read, &mut c_write);
                });
                let cuts = cuts2.clone();
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 16384];
                    let mut sent = 0usize;
                    loop {
                        let n = match c_read.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if sent + n > limit {
                            cuts.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        if s_write.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                        sent += n;
                    }
                    let _ = client.shutdown(Shutdown::Both);
                    let _ = server.shutdown(Shutdown::Both);
                });
            }
        });
        CuttingProxy { port, stop, cuts }
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
