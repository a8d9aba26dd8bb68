//! `cargo bench -p dgg-benches --bench kernels`: criterion comparisons of the kernels a DGG step is
//! made of, at MNIST shapes (batch 1000, the D-500-500-2000-10 network):
//! - the network's GEMM shapes;
//! - the loss and its gradients: candle's op chain with autograd against the explicit step;
//! - the ReLU backward pass and the Adam update: candle op chains against the fused kernels;
//! - every kernel on the CPU and, in a build with `--features cuda` on a machine with a GPU, on CUDA.

use candle_core::{DType, Device, Tensor, Var};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dgg_core::config::Likelihood;
use dgg_core::loss::{dgg_loss, Batch};
use dgg_core::nn::{Networks, Shape};
use rand::SeedableRng;

const BATCH: usize = 1000;

fn devices() -> Vec<(&'static str, Device)> {
    let mut out = vec![("cpu", Device::Cpu)];
    if let Ok(d) = Device::new_cuda(0) {
        out.push(("cuda", d));
    }
    out
}

fn sync(d: &Device) {
    d.synchronize().expect("device synchronises");
}

fn gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    group.sample_size(10);
    for (dev_name, dev) in devices() {
        for (name, m, k, n) in [("784x500", BATCH, 784, 500), ("500x500", BATCH, 500, 500), ("500x2000", BATCH, 500, 2000), ("2000x500", BATCH, 2000, 500)] {
            let a = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap().t().unwrap();
            group.throughput(Throughput::Elements((2 * m * k * n) as u64)); // FLOPs
            group.bench_function(BenchmarkId::new(name, dev_name), |b| {
                b.iter(|| {
                    a.matmul(&w).unwrap();
                    sync(&dev);
                })
            });
        }
    }
    group.finish();
}

fn loss_and_gradients(c: &mut Criterion) {
    let mut group = c.benchmark_group("dgg_step");
    group.sample_size(10);
    for (dev_name, dev) in devices() {
        let shape = Shape { input_dim: 784, hidden: vec![500, 500, 2000], latent_dim: 10, n_clusters: 10, classifier_hidden: vec![] };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let nets = Networks::new(&shape, &mut rng, DType::F32, &dev).unwrap();
        let x = Tensor::rand(0f32, 1.0, (BATCH, 784), &dev).unwrap();
        let eps = Tensor::randn(0f32, 1.0, (BATCH, 10), &dev).unwrap();
        let s = Tensor::ones((BATCH, 1), DType::F32, &dev).unwrap().affine(2.0, 0.0).unwrap();
        let targets = x.affine(2.0, 0.0).unwrap();
        let prior = Tensor::zeros((BATCH, 10), DType::F32, &dev).unwrap();
        let batch = Batch { x: &x, targets: &targets, s: &s, prior: &prior, eps: &eps };
        group.bench_function(BenchmarkId::new("op_chain_autograd", dev_name), |b| {
            b.iter(|| {
                let loss = dgg_loss(&nets, Likelihood::Bernoulli, &batch).unwrap();
                loss.total.backward().unwrap();
                sync(&dev);
            })
        });
        group.bench_function(BenchmarkId::new("explicit_gradients", dev_name), |b| {
            b.iter(|| {
                dgg_core::step::dgg_step(&nets, Likelihood::Bernoulli, &batch).unwrap();
                sync(&dev);
            })
        });
    }
    group.finish();
}

fn elementwise(c: &mut Criterion) {
    let mut group = c.benchmark_group("elementwise");
    for (dev_name, dev) in devices() {
        let y = Tensor::randn(0f32, 1.0, (BATCH, 2000), &dev).unwrap();
        let g = Tensor::randn(0f32, 1.0, (BATCH, 2000), &dev).unwrap();
        group.bench_function(BenchmarkId::new("relu_backward_op_chain", dev_name), |b| {
            b.iter(|| {
                (&g * y.gt(0.0).unwrap().to_dtype(DType::F32).unwrap()).unwrap();
                sync(&dev);
            })
        });
        group.bench_function(BenchmarkId::new("relu_backward_fused", dev_name), |b| {
            b.iter(|| {
                dgg_core::grad::relu_backward(&y, &g).unwrap();
                sync(&dev);
            })
        });
        // One Adam update of a 1M-parameter tensor: candle-nn's AdamW (an op chain) against ours
        // (one fused pass on the CPU).
        let p = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2000, 500), &dev).unwrap()).unwrap();
        let grad = Tensor::randn(0f32, 1.0, (2000, 500), &dev).unwrap();
        let params = candle_nn::ParamsAdamW { lr: 1e-3, weight_decay: 1e-4, ..Default::default() };
        let mut chain = <candle_nn::AdamW as candle_nn::Optimizer>::new(vec![p.clone()], params.clone()).unwrap();
        let loss = (p.as_tensor() * &grad).unwrap().sum_all().unwrap();
        let store = loss.backward().unwrap();
        group.bench_function(BenchmarkId::new("adam_op_chain", dev_name), |b| {
            b.iter(|| {
                candle_nn::Optimizer::step(&mut chain, &store).unwrap();
                sync(&dev);
            })
        });
        let mut fused = dgg_core::optim::Adam::new(vec![p.clone()], params).unwrap();
        let mut grads = dgg_core::optim::Grads::new();
        grads.insert(p.as_tensor().id(), grad.clone());
        group.bench_function(BenchmarkId::new("adam_fused", dev_name), |b| {
            b.iter(|| {
                fused.apply(&grads).unwrap();
                sync(&dev);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, gemm, loss_and_gradients, elementwise);
criterion_main!(benches);
