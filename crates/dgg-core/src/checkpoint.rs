//! Resumable fits. A long fit (MNIST on two cores takes tens of minutes) saves its state into a
//! folder after each stage: `pretrained`, `graph`, `initialised` and `trained`. A later fit with the
//! same folder, data, options and graph loads the stages that are there and runs only the rest, with the
//! same result as an uninterrupted run (the RNG position is saved with the networks). A stage that
//! was interrupted restarts from its beginning.
//!
//! Files, all written atomically: `run.json` (the fingerprint of data and options),
//! `<stage>.safetensors` (every parameter; metadata: fingerprint, RNG position, loss history) and
//! `graph.dgggraph`.

use crate::config::Config;
use crate::error::{DggError, Result};
use crate::model::{json, load_parameters, parameters_to_bytes, read_metadata, write_atomic};
use crate::nn::Networks;
use crate::train::EpochRecord;
use dgg_graph::Graph;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub struct Checkpoints {
    dir: PathBuf,
    fingerprint: String,
}

/// FNV-1a over 64-bit words: cheap enough for 200 MB of data, and any change of a value, of the
/// shape, of an option or of a caller-supplied graph changes it.
fn fingerprint(data: &[f32], n: usize, d: usize, cfg: &Config, graph: Option<&Graph>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |w: u64| {
        h ^= w;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    mix(n as u64);
    mix(d as u64);
    for pair in data.chunks(2) {
        mix(pair.iter().fold(0u64, |a, v| (a << 32) | v.to_bits() as u64));
    }
    if let Some(g) = graph {
        mix(g.k as u64);
        g.indices.iter().for_each(|&i| mix(i as u64));
        g.weights.iter().for_each(|w| mix(w.to_bits() as u64));
    }
    // The device does not change the result's meaning: a run may resume on another one.
    let options = json(&Config { device: crate::config::DeviceChoice::Auto, ..cfg.clone() });
    for b in options.bytes() {
        mix(b as u64);
    }
    format!("{h:016x}")
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RngState {
    seed: Vec<u8>,
    stream: u64,
    word_pos: String,
}

impl Checkpoints {
    /// Opens (creating it if needed) a checkpoint folder for this data and these options. A folder
    /// that holds another run is refused rather than mixed in. `graph` is the caller's graph, if any.
    pub fn open(dir: &Path, data: &[f32], n: usize, d: usize, cfg: &Config, graph: Option<&Graph>) -> Result<Checkpoints> {
        let io = |e: std::io::Error| DggError::Io { path: dir.display().to_string(), reason: e.to_string() };
        std::fs::create_dir_all(dir).map_err(io)?;
        let fingerprint = fingerprint(data, n, d, cfg, graph);
        let run = dir.join("run.json");
        match std::fs::read_to_string(&run) {
            Ok(text) => {
                let found: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                if found["fingerprint"].as_str() != Some(&fingerprint) {
                    return Err(DggError::option(
                        "checkpointDir",
                        format!("{} holds checkpoints of a fit with other data, options or graph; use an empty folder", dir.display()),
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let body = serde_json::json!({ "format": "dgg-native-checkpoints", "fingerprint": fingerprint, "n": n, "d": d });
                write_atomic(&run, body.to_string().as_bytes())?;
            }
            Err(e) => return Err(io(e)),
        }
        Ok(Checkpoints { dir: dir.to_path_buf(), fingerprint })
    }

    fn stage_path(&self, stage: &str) -> PathBuf {
        self.dir.join(format!("{stage}.safetensors"))
    }

    /// Saves the networks, the RNG position and the history as the end of `stage`.
    pub fn save_stage(&self, stage: &str, nets: &Networks, rng: &ChaCha8Rng, history: &[EpochRecord]) -> Result<()> {
        let state = RngState { seed: rng.get_seed().to_vec(), stream: rng.get_stream(), word_pos: rng.get_word_pos().to_string() };
        let mut meta = HashMap::new();
        meta.insert("fingerprint".to_string(), self.fingerprint.clone());
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
        if meta.get("fingerprint") != Some(&self.fingerprint) {
            return Err(bad("a checkpoint of another fit".into()));
        }
        let state: RngState = serde_json::from_str(meta.get("rng").map(String::as_str).unwrap_or(""))
            .map_err(|e| bad(format!("RNG state unreadable: {e}")))?;
        let saved: Vec<EpochRecord> = serde_json::from_str(meta.get("history").map(String::as_str).unwrap_or(""))
            .map_err(|e| bad(format!("history unreadable: {e}")))?;
        let seed: [u8; 32] = state.seed.as_slice().try_into().map_err(|_| bad("RNG seed is not 32 bytes".into()))?;
        let word_pos: u128 = state.word_pos.parse().map_err(|_| bad("RNG position unreadable".into()))?;
        load_parameters(nets, &bytes, &origin)?;
        *rng = <ChaCha8Rng as rand::SeedableRng>::from_seed(seed);
        rng.set_stream(state.stream);
        rng.set_word_pos(word_pos);
        *history = saved;
        Ok(true)
    }

    pub fn save_graph(&self, graph: &Graph) -> Result<()> {
        Ok(graph.save(self.dir.join("graph.dgggraph"))?)
    }

    pub fn load_graph(&self) -> Result<Option<Graph>> {
        let path = self.dir.join("graph.dgggraph");
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(Graph::load(path)?))
    }
}
