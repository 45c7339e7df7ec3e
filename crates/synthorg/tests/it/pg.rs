//! A PostgreSQL server of a test's own, from the machine's PostgreSQL binaries: for tests that
//! restart it or configure it (TLS), which must not disturb the shared test database.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A throw-away PostgreSQL server on a free loopback port.
pub(crate) struct PrivatePostgres {
    bindir: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Root may not run PostgreSQL: the tools then run as the `postgres` user.
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Starts one; the PostgreSQL server binaries must be installed (scripts/test-postgres
    /// installs them).
    pub(crate) fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// Like `start`, with `prepare(data dir)` run after initdb and before the first start
    /// (to add configuration files).
    pub(crate) fn start_with(prepare: impl FnOnce(&Path)) -> Self {
        let bindir = std::env::var_os("SYNTHORG_TEST_PG_BINDIR").map(PathBuf::from).or_else(|| {
            let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|e| Some(e.ok()?.path().join("bin")))
                .filter(|bin| bin.join("initdb").exists())
                .collect();
            found.sort();
            found.pop()
        });
        let bindir = bindir
            .filter(|b| b.join("pg_ctl").exists())
            .expect("PostgreSQL server binaries (scripts/test-postgres installs them; or set SYNTHORG_TEST_PG_BINDIR)");
        let uid = Command::new("id").arg("-u").output().unwrap();
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        let dir = tempfile::tempdir().unwrap();
        if as_postgres {
            assert!(Command::new("chown").args(["-R", "postgres:"]).arg(dir.path()).status().unwrap().success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pg = Self { bindir, dir, port, as_postgres };
        let data = pg.data();
        pg.run("initdb", &["-D", &data, "-U", "postgres", "-A", "trust", "-N", "--no-instructions"]);
        prepare(Path::new(&data));
        if pg.as_postgres {
            assert!(Command::new("chown").args(["-R", "postgres:"]).arg(&data).status().unwrap().success());
        }
        pg.up();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bindir.join(tool);
        let mut command = match self.as_postgres {
            true => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            }
            false => Command::new(program),
        };
        let out = command.args(args).stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub(crate) fn up(&self) {
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {}", self.port, self.dir.path().display());
        let log = self.dir.path().join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-o", &options, "-w", "-t", "60", "start"]);
    }

    pub(crate) fn down(&self, mode: &str) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "-t", "60", "stop"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let pid_file = Path::new(&self.data()).join("postmaster.pid");
        if pid_file.exists() {
            self.down("immediate");
        }
    }
}
