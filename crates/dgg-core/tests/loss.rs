//! The per-point objective against the paper's per-pair form, written independently (explicit
//! tuples, a direct Bernoulli log-likelihood, a broadcast GMM term), for the same samples: equal
//! values and gradients in f64 and f32; and a finite-difference check of the gradients.

mod common;

use candle_core::{DType, Device, Tensor, Var, D};
use dgg_core::config::Likelihood;
use dgg_core::loss::{outputs, per_point_loss, Batch, Outputs};
use dgg_core::nn::{Networks, Shape};
use dgg_core::prior::{graph_targets, pi_row, prior_rows, GammaTable};
use dgg_graph::Graph;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

struct Problem {
    nets: Networks,
    x: Tensor,
    eps: Tensor,
    graph: Graph,
    gamma: GammaTable,
    likelihood: Likelihood,
}

const N: usize = 9;
const D_IN: usize = 6;
const M: usize = 3;
const K: usize = 4;

fn problem(dtype: DType, likelihood: Likelihood) -> Problem {
    let dev = Device::Cpu;
    let shape = Shape { input_dim: D_IN, hidden: vec![7, 5], latent_dim: M, n_clusters: K, classifier_hidden: vec![] };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let nets = Networks::new(&shape, &mut rng, dtype, &dev).unwrap();
    let means = Tensor::from_vec(common::unit_data(K, M, 4), (K, M), &dev).unwrap();
    nets.set("gmm.means", &means).unwrap();
    let logvars = Tensor::from_vec(common::unit_data(K, M, 5), (K, M), &dev).unwrap().affine(1.0, -0.5).unwrap();
    nets.set("gmm.logvars", &logvars).unwrap();
    let x = Tensor::from_vec(common::unit_data(N, D_IN, 6), (N, D_IN), &dev).unwrap().to_dtype(dtype).unwrap();
    let eps = dgg_core::train::normal(&mut rng, N, M, &dev).unwrap().to_dtype(dtype).unwrap();
    let graph = common::random_graph(N, 3, 7);
    let out = outputs(&nets, &x, &eps).unwrap();
    let gamma = GammaTable { k: K, values: out.gamma.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap() };
    Problem { nets, x, eps, graph, gamma, likelihood }
}

/// Minus the per-point objective summed over all points, divided by N.
fn per_point(p: &Problem) -> Tensor {
    let dev = Device::Cpu;
    let dtype = p.x.dtype();
    let xs: Vec<f32> = p.x.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let reverse = p.graph.reverse();
    let (t, s) = graph_targets(&xs, D_IN, &reverse);
    let targets = Tensor::from_vec(t, (N, D_IN), &dev).unwrap().to_dtype(dtype).unwrap();
    let s = Tensor::from_vec(s, (N, 1), &dev).unwrap().to_dtype(dtype).unwrap();
    let all: Vec<u32> = (0..N as u32).collect();
    let prior = Tensor::from_vec(prior_rows(&all, &p.graph, &reverse, &p.gamma), (N, K), &dev).unwrap().to_dtype(dtype).unwrap();
    let batch = Batch { x: &p.x, targets: &targets, s: &s, prior: &prior, eps: &p.eps };
    let out = outputs(&p.nets, &p.x, &p.eps).unwrap();
    per_point_loss(&p.nets, p.likelihood, &batch, out).unwrap().total
}

/// ln p(x | y) row-wise, written directly: Bernoulli via ln sigma(l) = -ln(1 + e^-l).
fn log_lik(likelihood: Likelihood, x: &Tensor, y: &Tensor) -> Tensor {
    match likelihood {
        Likelihood::Bernoulli => {
            let log_p = ((y.neg().unwrap().exp().unwrap() + 1.0).unwrap().log().unwrap()).neg().unwrap();
            let log_q = ((y.exp().unwrap() + 1.0).unwrap().log().unwrap()).neg().unwrap();
            let one_minus_x = x.affine(-1.0, 1.0).unwrap();
            ((x * log_p).unwrap() + (one_minus_x * log_q).unwrap()).unwrap().sum(D::Minus1).unwrap()
        }
        Likelihood::Gaussian => {
            // Same constant convention as the engine: -|x - y|^2 / 2 + |x|^2 / 2.
            let diff = (x - y).unwrap().sqr().unwrap().sum(D::Minus1).unwrap();
            (x.sqr().unwrap().sum(D::Minus1).unwrap() - diff).unwrap().affine(0.5, 0.0).unwrap()
        }
    }
}

/// -1/2 sum_k gamma_k sum_m [...], broadcasting over P x K x M.
fn gmm_term(out_mu: &Tensor, out_logvar: &Tensor, gamma: &Tensor, nets: &Networks) -> Tensor {
    let mu = out_mu.unsqueeze(1).unwrap();
    let var = out_logvar.exp().unwrap().unsqueeze(1).unwrap();
    let means = nets.means.unsqueeze(0).unwrap();
    let cvar = nets.logvars.exp().unwrap().unsqueeze(0).unwrap();
    let g = (nets.logvars.unsqueeze(0).unwrap().broadcast_add(&var.broadcast_div(&cvar).unwrap()).unwrap()
        + mu.broadcast_sub(&means).unwrap().sqr().unwrap().broadcast_div(&cvar).unwrap())
    .unwrap()
    .sum(D::Minus1)
    .unwrap();
    (gamma * g).unwrap().sum(D::Minus1).unwrap().affine(-0.5, 0.0).unwrap()
}

/// Minus J = 1/2 sum_i sum_j w_ij [L(x_i) + L(x_i, x_j)], divided by N, written per tuple.
fn per_pair(p: &Problem) -> Tensor {
    let dev = Device::Cpu;
    let dtype = p.x.dtype();
    let o: Outputs = outputs(&p.nets, &p.x, &p.eps).unwrap();
    let ln_pi: Vec<f32> = (0..N).flat_map(|i| pi_row(i, &p.graph, &p.gamma).into_iter().map(|v| v.max(1e-10).ln())).collect();
    let ln_pi = Tensor::from_vec(ln_pi, (N, K), &dev).unwrap().to_dtype(dtype).unwrap();
    // L(x_i, x_j) for the rows (i, j) given; L(x_i) is the case j = i.
    let l = |ii: &[u32], jj: &[u32]| -> Tensor {
        let (ti, tj) = (Tensor::new(ii, &dev).unwrap(), Tensor::new(jj, &dev).unwrap());
        let sel = |t: &Tensor, idx: &Tensor| t.index_select(idx, 0).unwrap();
        let rec = log_lik(p.likelihood, &sel(&p.x, &ti), &sel(&o.recon, &tj));
        let gamma_j = sel(&o.gamma, &tj);
        let gmm = gmm_term(&sel(&o.mu, &tj), &sel(&o.logvar, &tj), &gamma_j, &p.nets);
        let cat = (&gamma_j * (sel(&ln_pi, &ti) - sel(&o.log_gamma, &tj)).unwrap()).unwrap().sum(D::Minus1).unwrap();
        let ent = sel(&o.logvar, &tj).affine(1.0, 1.0).unwrap().sum(D::Minus1).unwrap().affine(0.5, 0.0).unwrap();
        (((rec + gmm).unwrap() + cat).unwrap() + ent).unwrap()
    };
    let own: Vec<u32> = (0..N as u32).collect();
    let self_terms = l(&own, &own).sum_all().unwrap();
    let (mut ii, mut jj, mut ww) = (vec![], vec![], vec![]);
    for i in 0..N {
        for s in 0..p.graph.k {
            ii.push(i as u32);
            jj.push(p.graph.indices[i * p.graph.k + s]);
            ww.push(p.graph.weights[i * p.graph.k + s]);
        }
    }
    let w = Tensor::new(ww.as_slice(), &dev).unwrap().to_dtype(dtype).unwrap();
    let pair_terms = (l(&ii, &jj) * w).unwrap().sum_all().unwrap();
    ((self_terms + pair_terms).unwrap() * (-0.5 / N as f64)).unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

fn grads(p: &Problem, loss: &Tensor) -> Vec<(String, Vec<f64>)> {
    let store = loss.backward().unwrap();
    let data = p.nets.varmap.data().lock().unwrap();
    let mut named: Vec<(&String, &Var)> = data.iter().collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    named
        .into_iter()
        .map(|(k, v)| {
            let g = store.get(v.as_tensor()).map(|g| g.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap());
            (k.clone(), g.unwrap_or_else(|| vec![0.0; v.as_tensor().elem_count()]))
        })
        .collect()
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
    let den: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt().max(b.iter().map(|x| x * x).sum::<f64>().sqrt()).max(1e-12);
    num / den
}

fn check_equivalence(dtype: DType, likelihood: Likelihood, tol: f64) {
    let p = problem(dtype, likelihood);
    let (a, b) = (per_point(&p), per_pair(&p));
    let (va, vb) = (scalar(&a), scalar(&b));
    assert!(((va - vb) / vb.abs()).abs() < tol, "{likelihood:?} {dtype:?}: per-point {va} vs per-pair {vb}");
    let (ga, gb) = (grads(&p, &a), grads(&p, &b));
    for ((name, x), (_, y)) in ga.iter().zip(&gb) {
        let r = rel(x, y);
        assert!(r < tol, "{likelihood:?} {dtype:?}: gradient of {name} differs by {r}");
    }
    // The gradients must not be trivially zero: every network and the mixture take part.
    for prefix in ["encoder.l0.weight", "decoder.l0.weight", "classifier.l0.weight", "gmm.means", "gmm.logvars", "encoder.logvar.weight"] {
        let g = &ga.iter().find(|(n, _)| n == prefix).unwrap().1;
        assert!(g.iter().any(|v| v.abs() > 1e-8), "{prefix} gets no gradient");
    }
}

#[test]
fn per_point_equals_per_pair_in_f64() {
    check_equivalence(DType::F64, Likelihood::Bernoulli, 1e-5);
    check_equivalence(DType::F64, Likelihood::Gaussian, 1e-5);
}

#[test]
fn per_point_equals_per_pair_in_f32() {
    check_equivalence(DType::F32, Likelihood::Bernoulli, 1e-4);
    check_equivalence(DType::F32, Likelihood::Gaussian, 1e-4);
}

#[test]
fn gradients_match_finite_differences() {
    let p = problem(DType::F64, Likelihood::Bernoulli);
    let g = grads(&p, &per_point(&p));
    for (name, index) in [
        ("gmm.means", 5usize),
        ("gmm.logvars", 2),
        ("decoder.l2.weight", 11),
        ("encoder.l0.weight", 3),
        ("classifier.l0.weight", 4),
        ("encoder.logvar.bias", 1),
    ] {
        let var = p.nets.varmap.data().lock().unwrap().get(name).unwrap().clone();
        let base: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let h = 1e-6;
        let at = |delta: f64| {
            let mut v = base.clone();
            v[index] += delta;
            var.set(&Tensor::from_vec(v, var.as_tensor().shape(), &Device::Cpu).unwrap()).unwrap();
            scalar(&per_point(&p))
        };
        let numeric = (at(h) - at(-h)) / (2.0 * h);
        var.set(&Tensor::from_vec(base, var.as_tensor().shape(), &Device::Cpu).unwrap()).unwrap();
        let analytic = g.iter().find(|(n, _)| n == name).unwrap().1[index];
        assert!((numeric - analytic).abs() <= 1e-5 * numeric.abs().max(1e-3), "{name}[{index}]: numeric {numeric} vs autograd {analytic}");
    }
}

fn batch_tensors(p: &Problem) -> (Tensor, Tensor, Tensor) {
    let dev = Device::Cpu;
    let dtype = p.x.dtype();
    let xs: Vec<f32> = p.x.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let reverse = p.graph.reverse();
    let (t, s) = graph_targets(&xs, D_IN, &reverse);
    let all: Vec<u32> = (0..N as u32).collect();
    let prior = prior_rows(&all, &p.graph, &reverse, &p.gamma);
    (
        Tensor::from_vec(t, (N, D_IN), &dev).unwrap().to_dtype(dtype).unwrap(),
        Tensor::from_vec(s, (N, 1), &dev).unwrap().to_dtype(dtype).unwrap(),
        Tensor::from_vec(prior, (N, K), &dev).unwrap().to_dtype(dtype).unwrap(),
    )
}

/// The hand-derived gradients of `step::dgg_step` against candle's autograd of the same loss.
#[test]
fn explicit_gradients_match_autograd() {
    // f64 exercises the tensor-op path; f32 on the CPU the fused kernels (ReLU backward).
    for (dtype, likelihood, tol) in [
        (DType::F64, Likelihood::Bernoulli, 1e-9),
        (DType::F64, Likelihood::Gaussian, 1e-9),
        (DType::F32, Likelihood::Bernoulli, 1e-4),
        (DType::F32, Likelihood::Gaussian, 1e-4),
    ] {
        let p = problem(dtype, likelihood);
        let (targets, s, prior) = batch_tensors(&p);
        let batch = Batch { x: &p.x, targets: &targets, s: &s, prior: &prior, eps: &p.eps };
        let step = dgg_core::step::dgg_step(&p.nets, likelihood, &batch).unwrap();
        let reference = per_point(&p);
        assert!((step.total - scalar(&reference)).abs() < tol * scalar(&reference).abs());
        for (name, g) in grads(&p, &reference) {
            let var = p.nets.varmap.data().lock().unwrap().get(&name).unwrap().clone();
            let ours: Vec<f64> = step
                .grads
                .get(&var.id())
                .unwrap_or_else(|| panic!("no gradient for {name}"))
                .to_dtype(DType::F64)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let r = rel(&ours, &g);
            assert!(r < tol, "{likelihood:?} {dtype:?}: {name} differs by {r}");
        }
    }
}

/// The autoencoder step's gradients (with the align phase's cross-entropy) against autograd.
#[test]
fn autoencoder_gradients_match_autograd() {
    for (dtype, likelihood, tol) in [(DType::F64, Likelihood::Bernoulli, 1e-9), (DType::F32, Likelihood::Gaussian, 1e-4)] {
        let p = problem(dtype, likelihood);
        let labels = Tensor::new(&[0u32, 1, 2, 3, 0, 1, 2, 3, 0], &Device::Cpu).unwrap();
        let (total, _, ours) = dgg_core::step::autoencoder_step(&p.nets, likelihood, &p.x, Some((&labels, 2.5))).unwrap();
        let mu = p.nets.encoder.mean(&p.x).unwrap();
        let out = p.nets.decoder.forward(&mu).unwrap();
        let ce = candle_nn::loss::cross_entropy(&p.nets.classifier.forward(&mu).unwrap(), &labels).unwrap();
        let reference = (log_lik(likelihood, &p.x, &out).mean_all().unwrap().neg().unwrap() + (ce * 2.5).unwrap()).unwrap();
        assert!((total - scalar(&reference)).abs() < tol * scalar(&reference).abs().max(1.0));
        for (name, g) in grads(&p, &reference) {
            let var = p.nets.varmap.data().lock().unwrap().get(&name).unwrap().clone();
            match ours.get(&var.id()) {
                Some(o) => {
                    let o: Vec<f64> = o.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
                    assert!(rel(&o, &g) < tol, "{name}: {}", rel(&o, &g));
                }
                None => assert!(g.iter().all(|v| *v == 0.0), "{name} has a gradient the step missed"),
            }
        }
    }
}
