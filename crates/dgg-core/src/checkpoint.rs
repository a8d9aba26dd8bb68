//! Resumable fits. A long fit (MNIST on two cores takes tens of minutes) saves its state into a
//! folder after each stage: `pretrained`, `graph`, `initialised` and `trained`. A later fit with the
//! same folder loads every stage that the same data, options and earlier stages produced and runs
//! only the rest, with the same result as an uninterrupted run (the RNG position is saved with the
//! networks). A stage that was interrupted restarts from its beginning.
//!
//! Each stage file is named by a fingerprint chained from the data (and a caller's graph) through
//! the options that stage reads: changing only the DGG epochs reuses pretraining, graph and
//! initialisation; changing the seed reuses nothing. Fits with other options or data add their own
//! files beside the others, so nothing in the folder is ever overwritten with another fit's state.
//! The fingerprints cover data and options, not the library's version: a stage saved by another
//! build is reused as it is, so start a fresh folder after upgrading.
//!
//! Files, all written atomically: `<stage>-<fingerprint>.safetensors` (every parameter; metadata:
//! fingerprint, RNG position, loss history, checksum) and `graph-<fingerprint>.dgggraph`.
//!
//! One fit at a time uses a folder: [`Checkpoints::open`] takes an exclusive lock on `.lock` in it
//! (an OS file lock, released when the fit ends or its process dies), and a second fit, in this
//! process or another, gets a clear error instead of both rewriting the same stage files.

use crate::config::Config;
use crate::error::{DggError, Result};
use crate::model::{json, load_parameters, parameters_to_bytes, read_metadata, write_atomic};
use crate::nn::Networks;
use crate::train::EpochRecord;
use dgg_graph::Graph;
use fs2::FileExt;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The stages in pipeline order, each with the options (JSON pointers into [`Config`]) it is the
/// first to read. Options read by several stages belong to the earliest; every option but
/// `device` (which never changes the result's meaning) appears once (tested).
pub const STAGES: [(&str, &[&str]); 4] = [
    (
        "pretrained",
        &[
            "/n_clusters",
            "/latent_dim",
            "/hidden",
            "/likelihood",
            "/scale",
            "/classifier",
            "/epochs/layerwise",
            "/epochs/pretrain",
            "/epochs/vae",
            "/batch_size",
            "/lr/pretrain",
            "/lr/vae",
            "/weight_decay",
            "/seed",
        ],
    ),
    ("graph", &["/graph", "/neighbours", "/weighting", "/siamese_positives", "/epochs/siamese", "/lr/siamese"]),
    ("initialised", &["/init", "/epochs/classifier", "/lr/classifier", "/kmeans_restarts"]),
    ("trained", &["/epochs/dgg", "/lr/dgg", "/dgg_batch_size", "/keep_best"]),
];

/// Options added after checkpoint folders were first written: mixed in only when they differ from
/// the default, so that folders written before they existed stay valid.
const ADDED_LATER: [&str; 2] = ["/siamese_positives", "/dgg_batch_size"];

pub struct Checkpoints {
    dir: PathBuf,
    /// Stage name -> fingerprint of everything that stage's result depends on.
    fingerprints: HashMap<&'static str, String>,
    /// The folder's lock, held while this value lives.
    _lock: FolderLock,
}

/// The name of the lock file in a checkpoint folder.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive lock on a checkpoint folder: `.lock` in it, locked with the OS's file lock (flock,
/// LockFileEx), which the OS releases if the process dies. The file is removed on drop so a
/// finished fit leaves only its stage files behind.
struct FolderLock {
    path: PathBuf,
    file: Option<File>,
}

impl FolderLock {
    fn acquire(dir: &Path) -> Result<FolderLock> {
        let path = dir.join(LOCK_FILE);
        let io = |e: std::io::Error| DggError::Io { path: path.display().to_string(), reason: e.to_string() };
        loop {
            let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
            match file.try_lock_exclusive() {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == fs2::lock_contended_error().raw_os_error() => {
                    return Err(DggError::Io {
                        path: dir.display().to_string(),
                        reason: "the checkpoint folder is in use by another fit (in this or another process); wait for it to end or use another folder".into(),
                    });
                }
                // A file system without locks (some network mounts): go on unlocked, as before
                // locks existed.
                Err(_) => return Ok(FolderLock { path, file: Some(file) }),
            }
            // The holder before us may have removed the file after we opened it: our lock is then
            // on a file nobody else will see, so start again with the one at the path.
            if same_file(&file, &path) {
                return Ok(FolderLock { path, file: Some(file) });
            }
        }
    }
}

/// Whether the open `file` is the one now at `path`.
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        // No stable file identity in std here: the check is skipped, leaving only the moment when
        // one fit ends exactly as another starts.
        let _ = (file, path);
        true
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // Remove while still holding the lock, then release it by closing the file.
        let _ = std::fs::remove_file(&self.path);
        drop(self.file.take());
    }
}

/// FNV-1a over 64-bit words: cheap enough for 200 MB of data, and any change of a value, of the
/// shape, of an option or of a caller-supplied graph changes it.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn mix(&mut self, w: u64) {
        self.0 ^= w;
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }
    fn mix_str(&mut self, s: &str) {
        s.bytes().for_each(|b| self.mix(b as u64));
    }
    /// The state through a final avalanche (splitmix64's), so that a change in the last bytes
    /// mixed in (the seed, say) changes every digit of the name, not just a few.
    fn finish(&self) -> String {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        format!("{:016x}", z ^ (z >> 31))
    }
}

/// The fingerprint of every stage: the data's, then each stage's options chained onto the one
/// before, so a stage's fingerprint changes whenever anything it depends on does.
pub fn stage_fingerprints(data: &[f32], n: usize, d: usize, cfg: &Config, graph: Option<&Graph>) -> Vec<(&'static str, String)> {
    let mut h = Fnv::new();
    h.mix(n as u64);
    h.mix(d as u64);
    for pair in data.chunks(2) {
        h.mix(pair.iter().fold(0u64, |a, v| (a << 32) | v.to_bits() as u64));
    }
    if let Some(g) = graph {
        h.mix(g.k as u64);
        g.indices.iter().for_each(|&i| h.mix(i as u64));
        g.weights.iter().for_each(|w| h.mix(w.to_bits() as u64));
    }
    let options = serde_json::to_value(cfg).expect("plain data serialises");
    let defaults = serde_json::to_value(Config::default()).expect("plain data serialises");
    STAGES
        .iter()
        .map(|(stage, keys)| {
            h.mix_str(stage);
            for key in *keys {
                let value = options.pointer(key).expect("a Config field");
                if ADDED_LATER.contains(key) && defaults.pointer(key) == Some(value) {
                    continue;
                }
                h.mix_str(key);
                h.mix_str(&value.to_string());
            }
            (*stage, h.finish())
        })
        .collect()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RngState {
    seed: Vec<u8>,
    stream: u64,
    word_pos: String,
}

impl Checkpoints {
    /// Opens (creating it if needed) a checkpoint folder for this data, these options and `graph`
    /// (the caller's graph, if any). Opening a folder that another `Checkpoints` (of this or another
    /// process) holds open is an `IO_ERROR`.
    pub fn open(dir: &Path, data: &[f32], n: usize, d: usize, cfg: &Config, graph: Option<&Graph>) -> Result<Checkpoints> {
        std::fs::create_dir_all(dir).map_err(|e| DggError::Io { path: dir.display().to_string(), reason: e.to_string() })?;
        let lock = FolderLock::acquire(dir)?;
        let fingerprints = stage_fingerprints(data, n, d, cfg, graph).into_iter().collect();
        Ok(Checkpoints { dir: dir.to_path_buf(), fingerprints, _lock: lock })
    }

    fn fingerprint(&self, stage: &str) -> &str {
        self.fingerprints.get(stage).map(String::as_str).unwrap_or_else(|| panic!("unknown stage {stage}"))
    }

    fn stage_path(&self, stage: &str) -> PathBuf {
        self.dir.join(format!("{stage}-{}.safetensors", self.fingerprint(stage)))
    }

    /// Saves the networks, the RNG position and the history as the end of `stage`.
    pub fn save_stage(&self, stage: &str, nets: &Networks, rng: &ChaCha8Rng, history: &[EpochRecord]) -> Result<()> {
        let state = RngState { seed: rng.get_seed().to_vec(), stream: rng.get_stream(), word_pos: rng.get_word_pos().to_string() };
        let mut meta = HashMap::new();
        meta.insert("fingerprint".to_string(), self.fingerprint(stage).to_string());
        meta.insert("rng".to_string(), json(&state));
        meta.insert("history".to_string(), json(&history));
        write_atomic(&self.stage_path(stage), &parameters_to_bytes(nets, meta)?)
    }

    /// Restores the end of `stage` if it was saved: returns false (and changes nothing) if not.
    pub fn load_stage(&self, stage: &str, nets: &Networks, rng: &mut ChaCha8Rng, history: &mut Vec<EpochRecord>) -> Result<bool> {
        let path = self.stage_path(stage);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(DggError::Io { path: path.display().to_string(), reason: e.to_string() }),
        };
        let origin = path.display().to_string();
        let bad = |reason: String| DggError::ModelFormat { path: origin.clone(), reason };
        let meta = read_metadata(&bytes, &origin)?;
        if meta.get("fingerprint").map(String::as_str) != Some(self.fingerprint(stage)) {
            return Err(bad("a checkpoint of another fit".into()));
        }
        let state: RngState = serde_json::from_str(meta.get("rng").map(String::as_str).unwrap_or("")).map_err(|e| bad(format!("RNG state unreadable: {e}")))?;
        let saved: Vec<EpochRecord> =
            serde_json::from_str(meta.get("history").map(String::as_str).unwrap_or("")).map_err(|e| bad(format!("history unreadable: {e}")))?;
        let seed: [u8; 32] = state.seed.as_slice().try_into().map_err(|_| bad("RNG seed is not 32 bytes".into()))?;
        let word_pos: u128 = state.word_pos.parse().map_err(|_| bad("RNG position unreadable".into()))?;
        load_parameters(nets, &bytes, &origin)?;
        *rng = <ChaCha8Rng as rand::SeedableRng>::from_seed(seed);
        rng.set_stream(state.stream);
        rng.set_word_pos(word_pos);
        *history = saved;
        Ok(true)
    }

    fn graph_path(&self) -> PathBuf {
        self.dir.join(format!("graph-{}.dgggraph", self.fingerprint("graph")))
    }

    pub fn save_graph(&self, graph: &Graph) -> Result<()> {
        Ok(graph.save(self.graph_path())?)
    }

    pub fn load_graph(&self) -> Result<Option<Graph>> {
        let path = self.graph_path();
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(Graph::load(path)?))
    }
}
