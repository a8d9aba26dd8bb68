//! `fuzz --target model|graph --seconds S --corpus DIR [--seed N]`: a mutation fuzzer for the
//! model loader (`Model::from_bytes`) and the graph loader (`Graph::from_bytes`), run by
//! `npm run fuzz` (benches/fuzz/run.mjs), which splits its time across this and the TypeScript
//! readers' target (benches/fuzz/readers.mjs).
//!
//! Until the time is up: pick an input from the corpus (the seed files in DIR, plus up to
//! [`POOL`] mutants that loaded), mutate it, and load it. Byte mutations (bit flips, interesting
//! byte and integer values, truncation, insertion, deletion and duplication of runs, splicing two
//! inputs) alone rarely get past the checksums, so half the mutations are structured and re-seal
//! the file as a writer who knows the format would: for a model, its safetensors header (tensor
//! shapes, dtypes, offsets) and the JSON in its metadata (config, shape, scaler, likelihood) with
//! numbers replaced by huge, negative, zero or non-numeric ones, fields removed or retyped, arrays
//! grown; for a graph, its n and k, neighbour ids and weights.
//!
//! A loaded input must also behave: a model predicts one row (an error is fine, a panic is not)
//! and survives a save and reload; a graph's bytes round-trip exactly.
//!
//! A crash is a panic (caught per call; the panic hook stays silent and keeps the message) or an
//! abort of the process, which the runner sees: the input being loaded is always in
//! `<tmp>/dgg-fuzz/<target>-<pid>.current.bin`. A hang is one call over [`HANG_MS`]; a call that never
//! returns is killed by the runner's watchdog. Crashing and hanging inputs are saved to
//! `<tmp>/dgg-fuzz/crashes/`. The last stdout line is the JSON result: target, executions,
//! crashes, hangs, max_call_ms, peak_rss_mb, seconds, seed, crash_files, crash_messages.
//!
//! `fuzz --target T --write-seeds DIR` writes the seed corpus (benches/fuzz/make-corpus.mjs calls
//! it); `fuzz --target T --replay FILE` loads one file with the panic hook left on, for a backtrace.

use candle_core::{DType, Device};
use dgg_core::config::{ClassifierKind, Config, Likelihood};
use dgg_core::data::Scaler;
use dgg_core::model::Model;
use dgg_core::nn::{Networks, Shape};
use dgg_graph::Graph;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// One call slower than this is a hang.
const HANG_MS: f64 = 5000.0;
/// At most this many mutants that loaded join the corpus (they reach the checks after parsing).
const POOL: usize = 64;
/// Mutants are capped at this size, so inserted and duplicated runs cannot grow without bound.
const MAX_INPUT: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Model,
    Graph,
}

/// The message and place of the last panic, kept by the silent panic hook.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let usage = "usage: fuzz --target model|graph (--seconds S --corpus DIR [--seed N] [--errors] | --write-seeds DIR | --replay FILE)";
    let target = match arg("--target").as_deref() {
        Some("model") => Target::Model,
        Some("graph") => Target::Graph,
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    if let Some(dir) = arg("--write-seeds") {
        write_seeds(target, Path::new(&dir));
        return;
    }
    if let Some(file) = arg("--replay") {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        println!("{}", call(target, &bytes));
        return;
    }
    let (Some(seconds), Some(corpus)) = (arg("--seconds").and_then(|s| s.parse::<f64>().ok()), arg("--corpus")) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let seed = arg("--seed")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0));
    let result = fuzz(target, seconds, Path::new(&corpus), seed, args.iter().any(|a| a == "--errors"));
    println!("{result}");
}

fn target_name(t: Target) -> &'static str {
    match t {
        Target::Model => "model",
        Target::Graph => "graph",
    }
}

/// Loads one input; `Ok` or a typed error are both fine, a panic is a crash. Returns what happened.
fn call(target: Target, bytes: &[u8]) -> String {
    match target {
        Target::Model => match Model::from_bytes(bytes, &Device::Cpu, "<fuzz>") {
            Err(e) => format!("error: {e}"),
            Ok(model) => {
                // A model that loads must predict (finite output or a typed error) and reload.
                let d = model.shape.input_dim;
                let _ = model.predict_proba(&vec![0.5; d], 1, d);
                let again = model.to_bytes().and_then(|b| Model::from_bytes(&b, &Device::Cpu, "<fuzz: saved again>"));
                if let Err(e) = again {
                    panic!("a model that loaded does not load again after a save: {e}");
                }
                "ok".into()
            }
        },
        Target::Graph => match Graph::from_bytes(bytes) {
            Err(e) => format!("error: {e}"),
            Ok(g) => {
                assert!(g.to_bytes() == bytes, "a graph that loaded does not save to the same bytes");
                "ok".into()
            }
        },
    }
}

fn fuzz(target: Target, seconds: f64, corpus: &Path, seed: u64, show_errors: bool) -> Value {
    let name = target_name(target);
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(corpus).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    entries.sort();
    for p in entries.iter().filter(|p| p.is_file()) {
        seeds.push(std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())));
    }
    if seeds.is_empty() {
        eprintln!("fuzz: no seed files in {}", corpus.display());
        std::process::exit(2);
    }
    if target == Target::Model {
        // The structured mutations re-seal with this file's checksum: it must agree with the loader's.
        for s in &seeds {
            let mut file = SafeTensorsFile::parse(s).expect("a seed model file parses");
            let stored = file.metadata().and_then(|m| m.get("checksum")).cloned();
            let mut sealed = file.seal();
            assert!(
                stored.is_some() && sealed.metadata().and_then(|m| m.get("checksum")).cloned() == stored,
                "fuzz.rs's checksum disagrees with dgg_core::model::checksum"
            );
            assert!(call(target, s) == "ok" && call(target, &sealed.to_bytes()) == "ok", "a seed model file does not load");
        }
    }
    let work = std::env::temp_dir().join("dgg-fuzz");
    let crash_dir = work.join("crashes");
    std::fs::create_dir_all(&crash_dir).expect("temp dir");
    let current = work.join(format!("{name}-{}.current.bin", std::process::id()));

    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let msg = info.payload().downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| info.payload().downcast_ref::<String>().cloned());
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{}{place}", msg.unwrap_or_default()));
    }));

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let (mut executions, mut crashes, mut hangs, mut max_call_ms) = (0u64, 0u64, 0u64, 0f64);
    let mut crash_files: Vec<String> = Vec::new();
    let mut messages: BTreeMap<String, u64> = BTreeMap::new();
    let (mut loaded, mut errors) = (0u64, BTreeMap::<String, u64>::new());
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        let input = {
            let all: Vec<&Vec<u8>> = seeds.iter().chain(pool.iter()).collect();
            let base = *all.choose(&mut rng).expect("non-empty");
            let other = *all.choose(&mut rng).expect("non-empty");
            mutate(target, base, other, &mut rng)
        };
        // Where the runner finds the input if the process aborts or never returns.
        let _ = std::fs::write(&current, &input);
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| call(target, &input)));
        let ms = t.elapsed().as_secs_f64() * 1e3;
        executions += 1;
        max_call_ms = max_call_ms.max(ms);
        let save = |crash_files: &mut Vec<String>, kind: &str, n: u64| {
            let file = crash_dir.join(format!("{name}-{kind}-{n}-{}.bin", std::process::id()));
            let _ = std::fs::write(&file, &input);
            crash_files.push(file.display().to_string());
        };
        match outcome {
            Err(_) => {
                crashes += 1;
                let msg = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
                let seen = messages.entry(msg).or_insert(0);
                *seen += 1;
                // One file per distinct panic (and at most 20 in all) is enough to reproduce it.
                if *seen == 1 && crash_files.len() < 20 {
                    save(&mut crash_files, "crash", crashes);
                }
            }
            Ok(result) => {
                if show_errors {
                    // The error's kind, without the numbers that vary from input to input.
                    let kind: String = result.chars().filter(|c| !c.is_ascii_digit()).take(90).collect();
                    *errors.entry(kind).or_insert(0) += 1;
                }
                loaded += (result == "ok") as u64;
                if result == "ok" && pool.len() < POOL && !seeds.contains(&input) {
                    pool.push(input.clone());
                }
            }
        }
        if ms > HANG_MS {
            hangs += 1;
            if crash_files.len() < 20 {
                save(&mut crash_files, "hang", hangs);
            }
        }
    }
    let _ = std::fs::remove_file(&current);
    let mut errors: Vec<(String, u64)> = errors.into_iter().collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.1));
    for (kind, n) in errors {
        eprintln!("{n:>8}  {kind}");
    }
    json!({
        "target": name,
        "executions": executions,
        "crashes": crashes,
        "hangs": hangs,
        "max_call_ms": (max_call_ms * 1000.0).round() / 1000.0,
        "peak_rss_mb": dgg_benches::peak_rss_mb(),
        "seconds": start.elapsed().as_secs_f64(),
        "seed": seed,
        "loaded": loaded,
        "crash_files": crash_files,
        "crash_messages": messages.iter().map(|(m, n)| json!({ "message": m, "count": n })).collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------------------------------------
// Mutations

fn mutate(target: Target, base: &[u8], other: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut out = match (target, rng.gen_range(0..10)) {
        (_, 0..=4) => havoc(base, other, rng),
        (Target::Model, 5..=8) => model_structured(base, rng),
        (Target::Model, _) => model_data(base, rng),
        (Target::Graph, _) => graph_structured(base, rng),
    };
    out.truncate(MAX_INPUT);
    out
}

/// Interesting integers for 1, 2, 4 and 8-byte fields: edges of signed and unsigned ranges.
const INTERESTING: &[u64] =
    &[0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 32, 1 << 53, 1 << 62, i64::MAX as u64, u64::MAX];

/// One to four random byte-level mutations.
fn havoc(base: &[u8], other: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = b.len();
        match rng.gen_range(0..9) {
            // Flip one bit.
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                b[i] ^= 1 << rng.gen_range(0..8);
            }
            // A byte to an interesting value.
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                b[i] = *[0u8, 0xff, 0x7f, 0x80, 1, b' ', b'"', b'{', b'-', b'9'].choose(rng).expect("non-empty");
            }
            // A 1, 2, 4 or 8-byte little-endian field to an interesting integer (or one off it).
            2 => {
                let width = *[1usize, 2, 4, 8].choose(rng).expect("non-empty");
                if len >= width {
                    let i = rng.gen_range(0..=len - width);
                    let v = INTERESTING.choose(rng).expect("non-empty").wrapping_add(rng.gen_range(0..3)).wrapping_sub(1);
                    b[i..i + width].copy_from_slice(&v.to_le_bytes()[..width]);
                }
            }
            // A random byte.
            3 if len > 0 => {
                let i = rng.gen_range(0..len);
                b[i] = rng.gen();
            }
            // Truncate.
            4 => b.truncate(rng.gen_range(0..=len)),
            // Delete a run.
            5 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(64));
                b.drain(i..i + n);
            }
            // Insert random bytes.
            6 => {
                let i = rng.gen_range(0..=len);
                let run: Vec<u8> = (0..rng.gen_range(1..=32)).map(|_| rng.gen()).collect();
                b.splice(i..i, run);
            }
            // Duplicate a run (possibly many times over).
            7 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(256));
                let run = b[i..i + n].repeat(rng.gen_range(1..=8));
                let at = rng.gen_range(0..=len);
                b.splice(at..at, run);
            }
            // Splice: this input's head and another's tail.
            8 => {
                let cut = rng.gen_range(0..=len);
                let from = rng.gen_range(0..=other.len());
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
            _ => {}
        }
    }
    b
}

// ---------------------------------------------------------------------------------------------
// Model files: safetensors (u64 header length, JSON header, tensor data) with the metadata and
// checksum of dgg_core::model.

/// A safetensors buffer taken apart: its header as JSON (tensor entries and `__metadata__`) and
/// the data after it.
struct SafeTensorsFile {
    header: serde_json::Map<String, Value>,
    data: Vec<u8>,
}

impl SafeTensorsFile {
    fn parse(bytes: &[u8]) -> Option<Self> {
        let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
        let header: serde_json::Map<String, Value> = serde_json::from_slice(bytes.get(8..8usize.checked_add(n)?)?).ok()?;
        Some(SafeTensorsFile { header, data: bytes[8 + n..].to_vec() })
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec(&self.header).expect("JSON serialises");
        // safetensors pads the header with spaces to a multiple of 8 bytes.
        while !text.len().is_multiple_of(8) {
            text.push(b' ');
        }
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&text);
        out.extend_from_slice(&self.data);
        out
    }

    fn metadata(&mut self) -> Option<&mut serde_json::Map<String, Value>> {
        self.header.get_mut("__metadata__")?.as_object_mut()
    }

    /// Recomputes the checksum as `dgg_core::model::checksum` does: SHA-256 over the metadata
    /// entries but the checksum (by key) and each tensor's name, dtype (as JSON, `"F32"`), shape
    /// (u64 each) and bytes (by name), each item preceded by its length. Tensor entries that do
    /// not describe a range of the data leave the file as it is (the loader rejects it first).
    fn seal(mut self) -> Self {
        fn put(h: &mut Sha256, bytes: &[u8]) {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        let mut h = Sha256::new();
        let Some(meta) = self.header.get("__metadata__").and_then(Value::as_object) else { return self };
        let mut keys: Vec<&String> = meta.keys().filter(|k| *k != "checksum").collect();
        keys.sort();
        for k in keys {
            let Some(v) = meta[k].as_str() else { return self };
            put(&mut h, k.as_bytes());
            put(&mut h, v.as_bytes());
        }
        let mut names: Vec<&String> = self.header.keys().filter(|k| *k != "__metadata__").collect();
        names.sort();
        for name in names {
            let t = &self.header[name];
            let (Some(dtype), Some(shape), Some(range)) = (t["dtype"].as_str(), t["shape"].as_array(), t["data_offsets"].as_array()) else { return self };
            let dims: Option<Vec<u64>> = shape.iter().map(Value::as_u64).collect();
            let (Some(dims), Some(a), Some(b)) = (dims, range.first().and_then(Value::as_u64), range.get(1).and_then(Value::as_u64)) else { return self };
            let Some(bytes) = self.data.get(a as usize..b as usize) else { return self };
            put(&mut h, name.as_bytes());
            put(&mut h, json!(dtype).to_string().as_bytes());
            put(&mut h, &dims.iter().flat_map(|d| d.to_le_bytes()).collect::<Vec<u8>>());
            put(&mut h, bytes);
        }
        let sum = format!("sha256:{:x}", h.finalize());
        if let Some(meta) = self.metadata() {
            meta.insert("checksum".into(), json!(sum));
        }
        self
    }
}

/// Numbers that break assumptions: zero, negative, fractional, huge, past u64 and f64, and words
/// that are not numbers. Put in place of a number in JSON text (some make it invalid JSON).
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "-0",
    "0.5",
    "1e-45",
    "65536",
    "65537",
    "100001",
    "2147483648",
    "4294967296",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "1e308",
    "-1e308",
    "1e999",
    "NaN",
    "Infinity",
    "null",
    "\"1\"",
    "[]",
];

/// Replaces one number token of `text` by one of [`NUMBERS`] (or by another number of `text`).
fn replace_number(text: &str, rng: &mut ChaCha8Rng) -> String {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // A number starts with '-' or a digit where no identifier or number continues.
        let starts = (b[i] == b'-' || b[i].is_ascii_digit()) && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.' || b[i - 1] == b'_'));
        if starts && !in_string(b, i) {
            let s = i;
            i += 1;
            while i < b.len() && (b[i].is_ascii_digit() || matches!(b[i], b'.' | b'e' | b'E' | b'+' | b'-')) {
                i += 1;
            }
            spans.push((s, i));
        } else {
            i += 1;
        }
    }
    let Some(&(s, e)) = spans.choose(rng) else { return text.to_string() };
    let with = if rng.gen_bool(0.2) {
        let &(a, z) = spans.choose(rng).expect("non-empty");
        text[a..z].to_string()
    } else {
        NUMBERS.choose(rng).expect("non-empty").to_string()
    };
    format!("{}{with}{}", &text[..s], &text[e..])
}

/// Whether byte `i` of JSON text `b` lies inside a string literal.
fn in_string(b: &[u8], i: usize) -> bool {
    let (mut inside, mut escaped) = (false, false);
    for &c in &b[..i] {
        match (inside, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, false, b'"') => inside = !inside,
            _ => {}
        }
    }
    inside
}

/// A structural change to a JSON value: a node removed, retyped, or an array grown or emptied.
fn mutate_value(v: &mut Value, rng: &mut ChaCha8Rng) {
    // Walk down to a random node, at most 4 levels (stopping early sometimes, so parents are
    // mutated too), as a JSON pointer.
    let mut pointer = String::new();
    let mut at = &*v;
    for _ in 0..rng.gen_range(0..4) {
        let step = match at {
            Value::Object(m) if !m.is_empty() => m.keys().nth(rng.gen_range(0..m.len())).cloned(),
            Value::Array(a) if !a.is_empty() => Some(rng.gen_range(0..a.len()).to_string()),
            _ => None,
        };
        match step {
            Some(s) if rng.gen_bool(0.8) => {
                pointer.push('/');
                pointer.push_str(&s.replace('~', "~0").replace('/', "~1"));
                at = v.pointer(&pointer).expect("just walked");
            }
            _ => break,
        }
    }
    let node = v.pointer_mut(&pointer).expect("just walked");
    match (rng.gen_range(0..6), node) {
        (0, Value::Object(m)) if !m.is_empty() => {
            let k = m.keys().nth(rng.gen_range(0..m.len())).cloned().expect("in range");
            m.remove(&k);
        }
        (1, Value::Array(a)) if !a.is_empty() => {
            let grown: Vec<Value> = a.iter().cycle().take(a.len() * rng.gen_range(2..=20)).cloned().collect();
            *a = grown;
        }
        (2, Value::Array(a)) => a.clear(),
        (3, Value::Object(m)) => {
            m.insert("unexpected".into(), json!(1));
        }
        (_, n) => {
            *n = [json!(null), json!([]), json!({}), json!("x"), json!(true), json!(-1), json!(1e300), json!([1, 2])].choose(rng).expect("non-empty").clone()
        }
    }
}

/// Mutates the header or one JSON metadata field of a model file, then usually re-seals it.
fn model_structured(base: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let Some(mut file) = SafeTensorsFile::parse(base) else { return havoc(base, base, rng) };
    let fields = ["config", "shape", "scaler", "likelihood", "format_version", "format"];
    match rng.gen_range(0..5) {
        // The same change to the config and the shape, so the file gets past their agreement
        // check to the parameter count, the scaler and the tensors.
        4 => {
            let parse = |file: &mut SafeTensorsFile, field: &str| -> Option<Value> { serde_json::from_str(file.metadata()?.get(field)?.as_str()?).ok() };
            if let (Some(mut config), Some(mut shape)) = (parse(&mut file, "config"), parse(&mut file, "shape")) {
                let big = *[0u64, 1, 2, 1024, 1025, 65_536, 65_537, 100_000, 100_001, 1 << 31, 1 << 32, u64::MAX].choose(rng).expect("non-empty");
                match rng.gen_range(0..4) {
                    0 => (config["n_clusters"], shape["n_clusters"]) = (json!(big), json!(big)),
                    1 => (config["latent_dim"], shape["latent_dim"]) = (json!(big), json!(big)),
                    2 => {
                        let hidden = json!(vec![big.min(65_536); rng.gen_range(0..=9)]);
                        (config["hidden"], shape["hidden"]) = (hidden.clone(), hidden);
                    }
                    _ => shape["input_dim"] = json!(big),
                }
                let meta = file.metadata().expect("present");
                meta.insert("config".into(), json!(config.to_string()));
                meta.insert("shape".into(), json!(shape.to_string()));
            }
        }
        // A number in a metadata field's JSON text.
        0 | 1 => {
            let field = *fields.choose(rng).expect("non-empty");
            if let Some(text) = file.metadata().and_then(|m| m.get(field)).and_then(Value::as_str).map(str::to_string) {
                let mutated = replace_number(&text, rng);
                file.metadata().expect("present").insert(field.into(), json!(mutated));
            }
        }
        // The structure of a metadata field's JSON.
        2 => {
            let field = *fields.choose(rng).expect("non-empty");
            if let Some(text) = file.metadata().and_then(|m| m.get(field)).and_then(Value::as_str).map(str::to_string) {
                if let Ok(mut v) = serde_json::from_str::<Value>(&text) {
                    mutate_value(&mut v, rng);
                    file.metadata().expect("present").insert(field.into(), json!(v.to_string()));
                }
            }
        }
        // The header's tensor entries (shape, dtype, offsets) or the metadata map itself.
        _ => {
            let mut header = Value::Object(std::mem::take(&mut file.header));
            if rng.gen_bool(0.5) {
                let text = replace_number(&header.to_string(), rng);
                header = serde_json::from_str(&text).unwrap_or(header);
            } else if rng.gen_bool(0.3) {
                // A tensor's dtype.
                let dtype = *["F16", "F64", "I32", "U8", "BOOL", "BF16"].choose(rng).expect("non-empty");
                let names: Vec<String> = header.as_object().map(|m| m.keys().filter(|k| *k != "__metadata__").cloned().collect()).unwrap_or_default();
                if let Some(name) = names.choose(rng) {
                    header[name]["dtype"] = json!(dtype);
                }
            } else {
                mutate_value(&mut header, rng);
            }
            match header {
                Value::Object(m) => file.header = m,
                _ => return havoc(base, base, rng),
            }
        }
    }
    let file = if rng.gen_bool(0.85) { file.seal() } else { file };
    file.to_bytes()
}

/// Mutates the tensor data (non-finite and extreme floats, random bytes) and re-seals the file.
fn model_data(base: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let Some(mut file) = SafeTensorsFile::parse(base) else { return havoc(base, base, rng) };
    let floats = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, f32::MIN_POSITIVE, 1e-45, -0.0, 1e30];
    for _ in 0..rng.gen_range(1..=3) {
        if file.data.len() >= 4 {
            let i = rng.gen_range(0..file.data.len() / 4) * 4;
            let v: f32 = if rng.gen_bool(0.7) { *floats.choose(rng).expect("non-empty") } else { f32::from_bits(rng.gen()) };
            file.data[i..i + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    file.seal().to_bytes()
}

// ---------------------------------------------------------------------------------------------
// Graph files: magic, version, n, k, ids, weights, FNV-1a checksum (dgg_graph::graph_file).

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Changes n, k, a neighbour id or a weight of a graph file, resizes its body to the n and k it
/// declares (sometimes), and re-seals its checksum (usually).
fn graph_structured(base: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    const HEADER: usize = 28;
    if base.len() < HEADER + 8 {
        return havoc(base, base, rng);
    }
    let mut b = base[..base.len() - 8].to_vec();
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    let (n, k) = (u64_at(&b, 12), u64_at(&b, 20));
    let nk = (b.len() - HEADER) / 8;
    match rng.gen_range(0..5) {
        // n or k to an interesting value or one near the true one.
        0 | 1 => {
            let at = if rng.gen_bool(0.5) { 12 } else { 20 };
            let now = u64_at(&b, at);
            let v = if rng.gen_bool(0.5) { *INTERESTING.choose(rng).expect("non-empty") } else { now.wrapping_add(rng.gen_range(0..5)).wrapping_sub(2) };
            b[at..at + 8].copy_from_slice(&v.to_le_bytes());
            // Give the body the size the new n and k declare, when that is small.
            let (n, k) = (u64_at(&b, 12), u64_at(&b, 20));
            if rng.gen_bool(0.7) {
                if let Some(want) = n.checked_mul(k).filter(|&p| p <= 1 << 16) {
                    let want = want as usize;
                    let (ids, ws) = (b[HEADER..HEADER + 4 * nk].to_vec(), b[HEADER + 4 * nk..].to_vec());
                    let fit = |v: &[u8]| -> Vec<u8> { v.iter().copied().cycle().take(4 * want).collect() };
                    b.truncate(HEADER);
                    b.extend(if ids.is_empty() { vec![0; 4 * want] } else { fit(&ids) });
                    b.extend(if ws.is_empty() { vec![0; 4 * want] } else { fit(&ws) });
                }
            }
        }
        // A neighbour id: out of range, the row itself, or random.
        2 if nk > 0 => {
            let p = rng.gen_range(0..nk);
            let row = (p as u64).checked_div(k).unwrap_or(0);
            let v = *[n, n.wrapping_sub(1), row, u32::MAX as u64, 0, rng.gen::<u32>() as u64].choose(rng).expect("non-empty") as u32;
            b[HEADER + 4 * p..HEADER + 4 * p + 4].copy_from_slice(&v.to_le_bytes());
        }
        // A weight: non-finite, negative, tiny, or one that breaks the row sum.
        3 if nk > 0 => {
            let p = rng.gen_range(0..nk);
            let v = *[f32::NAN, f32::INFINITY, -0.0, -1.0, 1e-45, 0.0, 1.0, 1.00001, 2.0, f32::MAX].choose(rng).expect("non-empty");
            let at = HEADER + 4 * nk + 4 * p;
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        // The version.
        4 => {
            let v = *[0u32, 2, u32::MAX].choose(rng).expect("non-empty");
            b[8..12].copy_from_slice(&v.to_le_bytes());
        }
        _ => {}
    }
    let sum = if rng.gen_bool(0.9) { fnv1a64(&b) } else { rng.gen() };
    b.extend_from_slice(&sum.to_le_bytes());
    b
}

// ---------------------------------------------------------------------------------------------
// Seeds

/// Writes the seed corpus of `target` to `dir`: a few small valid files.
fn write_seeds(target: Target, dir: &Path) {
    std::fs::create_dir_all(dir).expect("seed folder");
    match target {
        Target::Model => {
            let models = [
                ("linear-none", ClassifierKind::Linear, vec![], Scaler::None, Likelihood::Bernoulli),
                ("linear-max", ClassifierKind::Linear, vec![], Scaler::Max { max: 255.0 }, Likelihood::Bernoulli),
                (
                    "mlp-standardize",
                    ClassifierKind::Mlp,
                    vec![4],
                    Scaler::Standardize { mean: vec![0.1, -0.2, 0.3, 0.0], std: vec![1.0, 0.5, 2.0, 1.0] },
                    Likelihood::Gaussian,
                ),
            ];
            for (i, (name, classifier, classifier_hidden, scaler, likelihood)) in models.into_iter().enumerate() {
                let config = Config { n_clusters: 3, latent_dim: 2, hidden: vec![6, 5], classifier, ..Config::default() };
                let shape = Shape { input_dim: 4, hidden: vec![6, 5], latent_dim: 2, n_clusters: 3, classifier_hidden };
                let nets = Networks::new(&shape, &mut ChaCha8Rng::seed_from_u64(i as u64), DType::F32, &Device::Cpu).expect("networks");
                let model = Model { config, shape, scaler, likelihood, nets, device: Device::Cpu };
                model.save(&dir.join(format!("{name}.dgg"))).expect("save");
            }
        }
        Target::Graph => {
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            for (n, k) in [(2, 1), (6, 2), (12, 3)] {
                let g = dgg_benches::random_graph(n, k, &mut rng).expect("graph");
                g.save(dir.join(format!("n{n}-k{k}.graph"))).expect("save");
            }
        }
    }
}
