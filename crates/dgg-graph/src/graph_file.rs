//! A small binary file format for [`Graph`], written atomically.
//!
//! Layout, all little-endian:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `DGGGRAPH` |
//! | 4 | format version, u32 = 1 |
//! | 8 | n, u64 |
//! | 8 | k, u64 |
//! | 4 n k | neighbour ids, u32 |
//! | 4 n k | weights, f32 |
//! | 8 | FNV-1a 64 checksum of every byte before it |
//!
//! Loading re-validates the graph as [`Graph::from_parts`] does.
//!
//! [`write_atomic`] and [`read_regular`] are the one place where dgg-native writes and reads its
//! files (graphs here; models and checkpoints in dgg-core call them too).

use crate::error::{GraphError, Result};
use crate::weights::Graph;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MAGIC: &[u8; 8] = b"DGGGRAPH";
/// The only version this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 8 + 8;

/// FNV-1a, 64 bit: no dependency, and enough to catch truncation and bit rot (not tampering).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn bad(path: &str, reason: impl Into<String>) -> GraphError {
    GraphError::Format { path: path.to_string(), reason: reason.into() }
}

impl Graph {
    /// Serialises the graph in the format above.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER + 8 * self.indices.len() + 8);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        b.extend_from_slice(&(self.n as u64).to_le_bytes());
        b.extend_from_slice(&(self.k as u64).to_le_bytes());
        for &j in &self.indices {
            b.extend_from_slice(&j.to_le_bytes());
        }
        for &w in &self.weights {
            b.extend_from_slice(&w.to_le_bytes());
        }
        let sum = fnv1a64(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    /// Parses and validates bytes written by [`Graph::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Graph> {
        parse(bytes, "<bytes>")
    }

    /// Writes the graph to `path` with [`write_atomic`]: readers never see a partial file, and a
    /// target that is not a regular file (a FIFO, a device) is refused.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        write_atomic(path, |f| f.write_all(&self.to_bytes())).map_err(|source| GraphError::Io { path: path.to_path_buf(), source })
    }

    /// Reads a graph written by [`Graph::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Graph> {
        let path = path.as_ref();
        let bytes = read_regular(path).map_err(|source| GraphError::Io { path: path.to_path_buf(), source })?;
        parse(&bytes, &path.display().to_string())
    }
}

fn parse(b: &[u8], path: &str) -> Result<Graph> {
    if b.len() < 8 || &b[..8] != MAGIC {
        return Err(bad(path, "not a DGG graph file (magic bytes DGGGRAPH missing)"));
    }
    if b.len() < HEADER + 8 {
        return Err(bad(path, format!("truncated: {} bytes, header alone needs {}", b.len(), HEADER + 8)));
    }
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let version = u32::from_le_bytes(b[8..12].try_into().unwrap());
    if version != FORMAT_VERSION {
        return Err(bad(path, format!("format version {version}, this build reads {FORMAT_VERSION}")));
    }
    let (n, k) = (u64_at(12), u64_at(20));
    let expected = n
        .checked_mul(k)
        .and_then(|nk| nk.checked_mul(8))
        .and_then(|p| p.checked_add((HEADER + 8) as u64))
        .ok_or_else(|| bad(path, format!("header sizes overflow (n = {n}, k = {k})")))?;
    if (b.len() as u64) < expected {
        return Err(bad(path, format!("truncated: {} bytes, expected {expected} for n = {n}, k = {k}", b.len())));
    }
    if b.len() as u64 > expected {
        return Err(bad(path, format!("{} trailing bytes after the checksum", b.len() as u64 - expected)));
    }
    let body = b.len() - 8;
    let stored = u64_at(body);
    if fnv1a64(&b[..body]) != stored {
        return Err(bad(path, "checksum mismatch (file corrupted)"));
    }
    let nk = (n * k) as usize;
    let ids = &b[HEADER..HEADER + 4 * nk];
    let ws = &b[HEADER + 4 * nk..body];
    let indices = ids.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
    let weights = ws.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    Graph::from_parts(n as usize, k as usize, indices, weights)
}

/// Random characters in a temporary file's name, `.<name>.XXXXXXXX.tmp`.
const TEMP_RANDOM: usize = 8;
/// A temporary file of a target untouched for this long was left by a killed process (a save
/// writes continuously and renames as soon as it is flushed): the next save to the target removes it.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// One lock per target path (canonical folder + file name), so saves to one file from this process
/// run one at a time. Entries are dropped when no save of that path is running or waiting.
static SAVING: Mutex<BTreeMap<PathBuf, Arc<Mutex<()>>>> = Mutex::new(BTreeMap::new());

/// Writes a file atomically and safely. This is the one writer behind every file dgg-native saves
/// (graphs, models, checkpoint stages):
///
/// - a target that exists and is not a regular file (a directory, FIFO, socket or device; symlinks
///   are followed for this check, as `fs.stat` in ts/io.ts does) is refused with an error that says
///   what it is;
/// - `write` fills a new temporary file beside the target, `.<name>.XXXXXXXX.tmp`, created
///   exclusively under a random name (so nothing planted at a predictable name is ever followed or
///   overwritten), which is flushed to disk and renamed over the target. A symlink at the target is
///   itself replaced by the new file, and the file it pointed to is left untouched. On any failure
///   the temporary file is removed and the target keeps its old content;
/// - saves to the same path from this process run one after another, so concurrent saves never
///   interleave: each that reports success wrote a whole file, and the last one wins;
/// - temporary files of the same target left by a killed process (untouched for an hour) are
///   removed;
/// - an error says which step failed, and a folder that is missing (or was removed during the
///   save) is named rather than reported as a bare "No such file or directory".
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut File) -> std::io::Result<()>) -> std::io::Result<()> {
    let name = path.file_name().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path (no file name)"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let key = dir.canonicalize().map_err(|e| step("finding its folder", dir, e))?.join(name);
    let lock = SAVING.lock().unwrap_or_else(|e| e.into_inner()).entry(key.clone()).or_default().clone();
    let result = {
        let _one_at_a_time = lock.lock().unwrap_or_else(|e| e.into_inner());
        write_now(path, dir, name, write)
    };
    let mut saving = SAVING.lock().unwrap_or_else(|e| e.into_inner());
    // The map's reference and ours: nobody else is saving to this path or waiting to.
    if Arc::strong_count(&lock) == 2 {
        saving.remove(&key);
    }
    result
}

fn write_now(path: &Path, dir: &Path, name: &std::ffi::OsStr, write: impl FnOnce(&mut File) -> std::io::Result<()>) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("it exists and is {}, not a regular file; refusing to replace it", file_kind(&m.file_type())),
            ))
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(step("checking the target", dir, e)),
        _ => {}
    }
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    remove_stale_temps(dir, &prefix);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp").rand_bytes(TEMP_RANDOM);
    // The permissions File::create gives (0666 less the umask), not tempfile's private 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).map_err(|e| step("creating the temporary file", dir, e))?;
    // The writer's own errors pass as they are.
    write(tmp.as_file_mut())?;
    tmp.as_file().sync_all().map_err(|e| step("flushing the temporary file", dir, e))?;
    // On failure the returned NamedTempFile is dropped, which removes the temporary file.
    tmp.persist(path).map_err(|e| step("renaming the temporary file over the target", dir, e.error))?;
    // Persist the rename itself; not possible (nor needed) on every platform.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// `e`, of the same kind, saying which step of a save failed; a missing folder (`ENOENT` from any
/// step after the target's own check, which a removal of the folder mid-save causes) is named.
fn step(doing: &str, dir: &Path, e: std::io::Error) -> std::io::Error {
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => format!("the folder '{}' does not exist (or was removed during the save)", dir.display()),
        _ => e.to_string(),
    };
    std::io::Error::new(e.kind(), format!("{doing} failed: {reason}"))
}

/// "a FIFO", "a directory", ...: what a non-regular file is, for error messages.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// Removes the regular files named like a temporary file of this target (`<prefix>XXXXXXXX.tmp`,
/// or `<prefix>tmp-<pid>` from earlier versions) that nobody has written to for [`STALE_TEMP`].
fn remove_stale_temps(dir: &Path, prefix: &std::ffi::OsStr) {
    let (Some(prefix), Ok(entries)) = (prefix.to_str(), std::fs::read_dir(dir)) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(prefix)) else { continue };
        let ours = (rest.len() == TEMP_RANDOM + 4 && rest.ends_with(".tmp"))
            || rest.strip_prefix("tmp-").is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        let stale = entry
            .metadata()
            .ok()
            .filter(|m| m.file_type().is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMP);
        if ours && stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Reads a whole file, refusing anything but a regular file (reading a FIFO would block forever,
/// a device would never end).
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    let m = std::fs::metadata(path)?;
    if !m.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("it is {}, not a regular file", file_kind(&m.file_type()))));
    }
    std::fs::read(path)
}
