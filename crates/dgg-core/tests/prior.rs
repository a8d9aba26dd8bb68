//! The closed-form pi update against a numeric maximisation of the terms of J that hold pi_i,
//! and the per-point graph sums against direct loops.

mod common;

use dgg_core::prior::{graph_targets, pi_row, prior_rows, GammaTable};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_gamma(n: usize, k: usize, seed: u64) -> GammaTable {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::new();
    for _ in 0..n {
        let row: Vec<f32> = (0..k).map(|_| rng.gen_range(0.01f32..1.0)).collect();
        let s: f32 = row.iter().sum();
        values.extend(row.iter().map(|v| v / s));
    }
    GammaTable { k, values }
}

#[test]
fn pi_update_maximises_its_terms() {
    let (n, k) = (8, 4);
    let g = common::random_graph(n, 3, 1);
    let gamma = random_gamma(n, k, 2);
    for i in 0..n {
        // F(pi) = sum_j w_ij sum_c (gamma_ic + gamma_jc) ln pi_c over the simplex, by gradient ascent
        // on softmax logits in f64.
        let mut coef = vec![0f64; k];
        for s in 0..g.k {
            let (j, w) = (g.indices[i * g.k + s] as usize, g.weights[i * g.k + s] as f64);
            for c in 0..k {
                coef[c] += w * (gamma.row(i)[c] as f64 + gamma.row(j)[c] as f64);
            }
        }
        let mut theta = vec![0f64; k];
        for _ in 0..20000 {
            let m = theta.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = theta.iter().map(|t| (t - m).exp()).collect();
            let z: f64 = e.iter().sum();
            let pi: Vec<f64> = e.iter().map(|v| v / z).collect();
            let total: f64 = coef.iter().sum();
            // dF/dtheta_c = coef_c - pi_c * sum(coef)
            for c in 0..k {
                theta[c] += 0.5 * (coef[c] - pi[c] * total);
            }
        }
        let m = theta.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = theta.iter().map(|t| (t - m).exp()).collect();
        let z: f64 = e.iter().sum();
        let closed = pi_row(i, &g, &gamma);
        for c in 0..k {
            assert!((e[c] / z - closed[c] as f64).abs() < 1e-5, "point {i} cluster {c}: numeric {} vs closed {}", e[c] / z, closed[c]);
        }
    }
}

#[test]
fn graph_sums_match_direct_loops() {
    let (n, d, k) = (10, 3, 4);
    let g = common::random_graph(n, 3, 5);
    let x = common::unit_data(n, d, 6);
    let gamma = random_gamma(n, k, 7);
    let rev = g.reverse();
    let (t, s) = graph_targets(&x, d, &rev);
    let all: Vec<u32> = (0..n as u32).collect();
    let b = prior_rows(&all, &g, &rev, &gamma);
    for p in 0..n {
        let mut tp: Vec<f64> = x[p * d..(p + 1) * d].iter().map(|&v| v as f64).collect();
        let mut sp = 1.0f64;
        let mut bp: Vec<f64> = pi_row(p, &g, &gamma).iter().map(|v| (*v as f64).ln()).collect();
        for i in 0..n {
            for slot in 0..g.k {
                if g.indices[i * g.k + slot] as usize == p {
                    let w = g.weights[i * g.k + slot] as f64;
                    sp += w;
                    for j in 0..d {
                        tp[j] += w * x[i * d + j] as f64;
                    }
                    for (c, l) in pi_row(i, &g, &gamma).iter().enumerate() {
                        bp[c] += w * (*l as f64).ln();
                    }
                }
            }
        }
        assert!((s[p] as f64 - sp).abs() < 1e-5);
        for j in 0..d {
            assert!((t[p * d + j] as f64 - tp[j]).abs() < 1e-5);
        }
        for c in 0..k {
            assert!((b[p * k + c] as f64 - bp[c]).abs() < 1e-4);
        }
    }
}
