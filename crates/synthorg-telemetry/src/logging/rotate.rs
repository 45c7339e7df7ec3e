//! A file that rotates by size: `app.log` is renamed `app.log.1` (then `.2`, …) when the
//! next write would pass `max_bytes`; at most `max_files` rotated files are kept, optionally
//! gzip-compressed (`app.log.1.gz`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Rotation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Size at which the file rotates.
    pub max_bytes: u64,
    /// Rotated files kept besides the live one.
    pub max_files: usize,
    /// Compress rotated files.
    pub gzip: bool,
}

/// The live file of a sink.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    file: File,
    size: u64,
}

/// Log files are created readable by their owner and group only (the umask may take more):
/// logs are redacted, but they still say who did what, which is not everyone's business.
pub(crate) const LOG_FILE_MODE: u32 = 0o640;
/// The directory a log file is created in, when it does not exist yet.
pub(crate) const LOG_DIR_MODE: u32 = 0o750;

/// Options creating a log file with [`LOG_FILE_MODE`] (an existing file keeps its mode).
fn log_file() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = OpenOptions::new();
    options.create(true).mode(LOG_FILE_MODE);
    options
}

impl RotatingFile {
    /// Opens (appending to) the file, creating its directory.
    pub fn open(path: &Path, rotation: Rotation) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(LOG_DIR_MODE).create(dir)?;
        }
        let file = log_file().append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self { path: path.to_owned(), rotation, file, size })
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}{}", if self.rotation.gzip { ".gz" } else { "" }));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let keep = self.rotation.max_files;
        if keep == 0 {
            self.file = log_file().write(true).truncate(true).open(&self.path)?;
            self.size = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(self.rotated(keep));
        for n in (1..keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        if self.rotation.gzip {
            let rotated = log_file().write(true).truncate(true).open(self.rotated(1))?;
            let mut encoder = flate2::write::GzEncoder::new(rotated, flate2::Compression::fast());
            io::copy(&mut File::open(&self.path)?, &mut encoder)?;
            encoder.finish()?.sync_all()?;
            self.file = log_file().write(true).truncate(true).open(&self.path)?;
        } else {
            std::fs::rename(&self.path, self.rotated(1))?;
            self.file = log_file().append(true).open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.rotation.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// No permission beyond `allowed` (the umask may take more away, never add).
    fn assert_private(meta: &std::fs::Metadata, allowed: u32, what: &str) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(mode & !allowed, 0, "{what}: mode {mode:o} grants more than {allowed:o}");
    }

    fn lines(n: usize, width: usize) -> Vec<String> {
        (0..n).map(|i| format!("{i:0width$}\n")).collect()
    }

    #[test]
    fn rotates_by_size_and_keeps_a_bounded_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/app.log");
        let mut f = RotatingFile::open(&path, Rotation { max_bytes: 100, max_files: 3, gzip: false }).unwrap();
        for line in lines(50, 9) {
            f.write_all(line.as_bytes()).unwrap();
        }
        f.flush().unwrap();
        let mut names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["app.log", "app.log.1", "app.log.2", "app.log.3"]);
        for name in &names {
            let meta = std::fs::metadata(path.parent().unwrap().join(name)).unwrap();
            assert!(meta.len() <= 100, "{name}: {}", meta.len());
            assert_private(&meta, LOG_FILE_MODE, name);
        }
        assert_private(&std::fs::metadata(path.parent().unwrap()).unwrap(), LOG_DIR_MODE, "logs/");
        // The newest lines are in the live file, the ones before in .1, with no gap.
        let live = std::fs::read_to_string(&path).unwrap();
        let one = std::fs::read_to_string(path.with_extension("log.1")).unwrap();
        assert!(live.ends_with("000000049\n"));
        let first_live: usize = live.lines().next().unwrap().parse().unwrap();
        let last_one: usize = one.lines().last().unwrap().parse().unwrap();
        assert_eq!(last_one + 1, first_live);
    }

    #[test]
    fn rotated_files_can_be_gzipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut f = RotatingFile::open(&path, Rotation { max_bytes: 60, max_files: 2, gzip: true }).unwrap();
        for line in lines(20, 9) {
            f.write_all(line.as_bytes()).unwrap();
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(dir.path().join("audit.log.1.gz")).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.lines().all(|l| l.len() == 9) && !text.is_empty());
        assert!(dir.path().join("audit.log.2.gz").exists());
        assert!(!dir.path().join("audit.log.3.gz").exists());
        for name in ["audit.log", "audit.log.1.gz", "audit.log.2.gz"] {
            assert_private(&std::fs::metadata(dir.path().join(name)).unwrap(), LOG_FILE_MODE, name);
        }
    }
}
