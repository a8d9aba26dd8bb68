//! Helpers shared by the integration tests: synthetic data, the pendigits loader, a brute-force
//! f64 kNN reference.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` points in `d` dimensions around `c` random centres (unit-variance-ish noise).
pub fn clustered(n: usize, d: usize, c: usize, spread: f32, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<f32> = (0..c * d).map(|_| rng.gen_range(-10.0..10.0)).collect();
    let mut x = Vec::with_capacity(n * d);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let l = rng.gen_range(0..c);
        labels.push(l as u32);
        for j in 0..d {
            let noise: f32 = (0..4).map(|_| rng.gen_range(-1.0f32..1.0)).sum::<f32>() * spread;
            x.push(centres[l * d + j] + noise);
        }
    }
    (x, labels)
}

/// Uniform random data in [0, 1).
pub fn uniform(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * d).map(|_| rng.gen::<f32>()).collect()
}

/// pendigits.tra as (data / 100, labels, n, d), or None (with a note) when the file is absent.
pub fn pendigits() -> Option<(Vec<f32>, Vec<u32>, usize, usize)> {
    // The data folder of the benchmark suite (benches/suite.json): DGG_DATA_DIR.
    let Some(dir) = std::env::var_os("DGG_DATA_DIR") else {
        eprintln!("note: DGG_DATA_DIR not set, skipping the pendigits part of this test");
        return None;
    };
    let path = std::path::Path::new(&dir).join("pendigits/pendigits.tra");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("note: {} not found, skipping the pendigits part of this test", path.display());
        return None;
    };
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Vec<f32> = line.split(',').map(|s| s.trim().parse().unwrap()).collect();
        assert_eq!(v.len(), 17, "pendigits row with {} columns", v.len());
        x.extend(v[..16].iter().map(|p| p / 100.0));
        y.push(v[16] as u32);
    }
    let n = y.len();
    Some((x, y, n, 16))
}

/// Exact neighbours in f64 by a plain double loop: (squared distance, id) per row, sorted by
/// distance then id, self excluded.
pub fn brute_force(data: &[f32], n: usize, d: usize, k: usize) -> Vec<Vec<(f64, u32)>> {
    (0..n)
        .map(|i| {
            let mut row: Vec<(f64, u32)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let s: f64 = (0..d)
                        .map(|t| {
                            let v = data[i * d + t] as f64 - data[j * d + t] as f64;
                            v * v
                        })
                        .sum();
                    (s, j as u32)
                })
                .collect();
            row.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
            row.truncate(k);
            row
        })
        .collect()
}

/// A unique path in the system temp dir.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dgg-graph-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
