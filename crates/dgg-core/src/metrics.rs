//! Clustering metrics: accuracy under the best one-to-one matching of clusters to classes
//! (Hungarian algorithm), normalised mutual information (arithmetic-mean normalisation, as
//! scikit-learn's default) and the adjusted Rand index.

use crate::error::{DggError, Result};
use std::collections::HashMap;

/// Contingency table of two labelings: rows = predicted ids, columns = true ids (both compacted).
fn contingency(pred: &[i64], truth: &[i64]) -> Result<(Vec<Vec<f64>>, usize, usize)> {
    if pred.len() != truth.len() {
        return Err(DggError::InvalidData(format!("labels have {} entries, truth has {}", pred.len(), truth.len())));
    }
    if pred.is_empty() {
        return Err(DggError::InvalidData("labels are empty".into()));
    }
    let compact = |xs: &[i64]| {
        let mut ids = HashMap::new();
        let v: Vec<usize> = xs
            .iter()
            .map(|x| {
                let next = ids.len();
                *ids.entry(*x).or_insert(next)
            })
            .collect();
        (v, ids.len())
    };
    let (p, np) = compact(pred);
    let (t, nt) = compact(truth);
    let mut table = vec![vec![0f64; nt]; np];
    for (a, b) in p.iter().zip(&t) {
        table[*a][*b] += 1.0;
    }
    Ok((table, np, nt))
}

/// Minimum-cost assignment on a square cost matrix (Kuhn-Munkres with potentials, O(n^3)).
/// Returns for each row the column assigned to it.
pub fn hungarian(cost: &[Vec<f64>]) -> Vec<usize> {
    let n = cost.len();
    let (mut u, mut v) = (vec![0f64; n + 1], vec![0f64; n + 1]);
    let (mut p, mut way) = (vec![0usize; n + 1], vec![0usize; n + 1]);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let (i0, mut delta, mut j1) = (p[j0], f64::INFINITY, 0);
            for j in 1..=n {
                if !used[j] {
                    let cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut assignment = vec![0usize; n];
    for j in 1..=n {
        if p[j] > 0 {
            assignment[p[j] - 1] = j - 1;
        }
    }
    assignment
}

/// Accuracy after matching each predicted cluster to at most one class so that agreement is maximal.
pub fn accuracy(pred: &[i64], truth: &[i64]) -> Result<f64> {
    let (table, np, nt) = contingency(pred, truth)?;
    let size = np.max(nt);
    let max = table.iter().flatten().cloned().fold(0.0, f64::max);
    let cost: Vec<Vec<f64>> = (0..size).map(|i| (0..size).map(|j| max - table.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0.0)).collect()).collect();
    let assignment = hungarian(&cost);
    let matched: f64 = assignment.iter().enumerate().map(|(i, &j)| table.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0.0)).sum();
    Ok(matched / pred.len() as f64)
}

fn entropy(counts: impl Iterator<Item = f64>, n: f64) -> f64 {
    counts.filter(|&c| c > 0.0).map(|c| -(c / n) * (c / n).ln()).sum()
}

/// NMI = I(P; T) / ((H(P) + H(T)) / 2); 1 when both labelings have a single cluster.
pub fn nmi(pred: &[i64], truth: &[i64]) -> Result<f64> {
    let (table, _, nt) = contingency(pred, truth)?;
    let n = pred.len() as f64;
    let rows: Vec<f64> = table.iter().map(|r| r.iter().sum()).collect();
    let cols: Vec<f64> = (0..nt).map(|j| table.iter().map(|r| r[j]).sum()).collect();
    let mut mi = 0.0;
    for (i, r) in table.iter().enumerate() {
        for (j, &c) in r.iter().enumerate() {
            if c > 0.0 {
                mi += (c / n) * ((c * n) / (rows[i] * cols[j])).ln();
            }
        }
    }
    let (hp, ht) = (entropy(rows.into_iter(), n), entropy(cols.into_iter(), n));
    if hp + ht == 0.0 {
        return Ok(1.0);
    }
    Ok((mi / ((hp + ht) / 2.0)).clamp(0.0, 1.0))
}

/// Adjusted Rand index (Hubert and Arabie).
pub fn ari(pred: &[i64], truth: &[i64]) -> Result<f64> {
    let (table, _, nt) = contingency(pred, truth)?;
    let comb2 = |x: f64| x * (x - 1.0) / 2.0;
    let n = pred.len() as f64;
    let index: f64 = table.iter().flatten().map(|&c| comb2(c)).sum();
    let a: f64 = table.iter().map(|r| comb2(r.iter().sum())).sum();
    let b: f64 = (0..nt).map(|j| comb2(table.iter().map(|r| r[j]).sum())).sum();
    let expected = a * b / comb2(n).max(1.0);
    let max = (a + b) / 2.0;
    if (max - expected).abs() < 1e-12 {
        return Ok(1.0);
    }
    Ok((index - expected) / (max - expected))
}

/// All three metrics at once.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Scores {
    pub acc: f64,
    pub nmi: f64,
    pub ari: f64,
}

pub fn evaluate(pred: &[i64], truth: &[i64]) -> Result<Scores> {
    Ok(Scores { acc: accuracy(pred, truth)?, nmi: nmi(pred, truth)?, ari: ari(pred, truth)? })
}
