//! A private, throwaway PostgreSQL cluster for the tests: its own data directory under the
//! temp dir and its own loopback port, run as `nobody` when the tests run as root (PostgreSQL
//! refuses root), started once per test binary and stopped by a watchdog when the test
//! process exits. Each collector under test gets a fresh schema (`search_path`), so tests
//! running in parallel never see each other's rows.
//!
//! Owns: finding the binaries (`OMNITRAIL_PG_BIN`, default Debian's
//! `/usr/lib/postgresql/15/bin`), initdb/pg_ctl, schemas. Must never: touch a cluster it did
//! not start, or listen anywhere but 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Cluster {
    pub port: u16,
    pub dir: PathBuf,
    bin: PathBuf,
    /// Run the server's commands as this user (`None`: as ourselves).
    user: Option<&'static str>,
    /// How long initdb + start took.
    pub started_in: Duration,
}

pub fn bin_dir() -> PathBuf {
    std::env::var_os("OMNITRAIL_PG_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

/// Whether the PostgreSQL server binaries are installed (`scripts/setup.sh` installs them).
pub fn available() -> bool {
    bin_dir().join("initdb").exists() && bin_dir().join("pg_ctl").exists()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().unwrap().port()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Cluster {
    fn cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    /// Creates the data directory and starts the server (waiting until it accepts connections).
    pub fn start(name: &str) -> Result<Cluster, String> {
        if !available() {
            return Err(format!("PostgreSQL binaries not found in {} (run scripts/setup.sh)", bin_dir().display()));
        }
        let t0 = Instant::now();
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!("omnitrail-pg-{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let user = is_root().then_some("nobody");
        if user.is_some() {
            let ok = Command::new("chown").arg("nobody:nogroup").arg(&dir).status().map_err(|e| e.to_string())?.success();
            if !ok {
                return Err("chown nobody failed".into());
            }
        }
        let c = Cluster { port: free_port(), dir, bin: bin_dir(), user, started_in: Duration::ZERO };
        let out = c
            .cmd("initdb")
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync", "-D"])
            .arg(c.dir.join("data"))
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        c.watchdog();
        let mut c = c;
        c.pg_ctl_start()?;
        c.started_in = t0.elapsed();
        Ok(c)
    }

    /// Starts the (initialised) server; also after [`Cluster::stop`].
    pub fn pg_ctl_start(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=32MB",
            self.port,
            self.dir.display()
        );
        let out = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-o", &opts, "-l"])
            .arg(self.dir.join("log"))
            .args(["-w", "-t", "60", "start"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
            return Err(format!("pg_ctl start failed: {}\n{log}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(())
    }

    /// Stops the server at once (`-m immediate`: like a crash; committed data survives).
    pub fn stop(&self) {
        let _ = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// A detached shell that stops the server and removes its directory once this test
    /// process has exited (the test harness has no global teardown).
    fn watchdog(&self) {
        let runuser = match self.user {
            Some(u) => format!("runuser -u {u} -- "),
            None => String::new(),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runuser}{bin}/pg_ctl -D {dir}/data -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            bin = self.bin.display(),
            dir = self.dir.display(),
        );
        let _ = Command::new("sh").args(["-c", &script]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
    }

    /// Runs SQL as the superuser (through `psql`).
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-qAtX",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A new, empty schema and the URL of a store that uses it.
    pub fn fresh_url(&self) -> String {
        static N: AtomicU64 = AtomicU64::new(0);
        let schema = format!("t_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        self.psql(&format!("CREATE SCHEMA {schema}")).unwrap_or_else(|e| panic!("create schema: {e}"));
        self.url_for(&schema)
    }

    pub fn url_for(&self, schema: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres?options=-csearch_path%3D{schema}", self.port)
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }
}

/// The cluster shared by this test binary's tests (started on first use).
pub fn shared() -> &'static Cluster {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    match CLUSTER.get_or_init(|| Cluster::start("shared")) {
        Ok(c) => c,
        Err(e) => panic!("OMNITRAIL_TEST_STORE=postgres but no PostgreSQL cluster could be started: {e}"),
    }
}
