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

use crate::error::{GraphError, Result};
use crate::weights::Graph;
use std::io::Write;
use std::path::Path;

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

    /// Writes the graph to `path` atomically: a temporary file in the same directory is written,
    /// flushed to disk, then renamed over `path`, so readers never see a partial file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let io = |source| GraphError::Io { path: path.to_path_buf(), source };
        let name = path.file_name().ok_or_else(|| GraphError::invalid("path", path.display(), "has no file name"))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&self.to_bytes())?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, path)?;
            // Persist the rename itself; not possible (nor needed) on every platform.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }

    /// Reads a graph written by [`Graph::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Graph> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| GraphError::Io { path: path.to_path_buf(), source })?;
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
