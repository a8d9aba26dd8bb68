//! Training the Siamese network ([`crate::siamese`]): batches of anchors, their Euclidean
//! positives and random negatives, each distinct point embedded once per step; AdamW with a step
//! schedule; then the embedding of every point.

use crate::control::{Control, Progress};
use crate::error::{check_matrix, GraphError, Result};
use crate::knn::Neighbours;
use crate::optim::Adam;
use crate::siamese::{contrastive_loss, init_vars, SiameseConfig, SiameseNet};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{ParamsAdamW, VarBuilder};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// Trains the Siamese network and returns the `n x latent_dim` embedding of all points.
///
/// `positives` is the Euclidean kNN of `data`; its first `cfg.positives` neighbours form the
/// positive pairs. `init` may hold starting weights under the names of
/// [`parameter_shapes`](crate::siamese::parameter_shapes); other entries are ignored.
#[allow(clippy::too_many_arguments)]
pub fn train_siamese(
    data: &[f32],
    n: usize,
    d: usize,
    positives: &Neighbours,
    init: Option<&HashMap<String, Tensor>>,
    cfg: &SiameseConfig,
    device: &Device,
    ctl: &Control,
) -> Result<Vec<f32>> {
    cfg.validate()?;
    check_matrix("data", data, n, d)?;
    if n < 2 {
        return Err(GraphError::invalid("n", n, "need at least 2 points"));
    }
    if positives.n != n || positives.indices.len() != n * positives.k {
        return Err(GraphError::shape("positives", format!("{n} rows"), format!("{} rows", positives.n)));
    }
    if positives.k < cfg.positives {
        return Err(GraphError::invalid("positives", cfg.positives, format!("must be <= neighbour list length {}", positives.k)));
    }
    if let Some(&j) = positives.indices.iter().find(|&&j| j as usize >= n) {
        return Err(GraphError::invalid("positives", j, format!("neighbour ids must be < n = {n}")));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let vm = init_vars(d, cfg, init, device, &mut rng)?;
    let net = SiameseNet::new(d, &cfg.hidden, cfg.latent_dim, VarBuilder::from_varmap(&vm, DType::F32, device))?;
    let x = Tensor::from_slice(data, (n, d), device)?;
    // Decoupled decay (AdamW); PyTorch's Adam(weight_decay) adds an L2 term instead. At 1e-4
    // the two barely differ, and candle has no coupled variant.
    let params = ParamsAdamW { lr: cfg.lr, weight_decay: cfg.weight_decay, ..Default::default() };
    let mut opt = Adam::new(vm.all_vars(), params)?;

    let mut order: Vec<u32> = (0..n as u32).collect();
    let batches = n.div_ceil(cfg.batch_size);
    // slot[p] = row of point p in this step's distinct-point list, or u32::MAX.
    let mut slot = vec![u32::MAX; n];
    let mut uniq: Vec<u32> = Vec::new();
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    let nt = cfg.positives;
    for epoch in 0..cfg.epochs {
        opt.set_learning_rate(cfg.lr * cfg.lr_gamma.powi((epoch / cfg.lr_step) as i32));
        order.shuffle(&mut rng);
        for (b, anchors) in order.chunks(cfg.batch_size).enumerate() {
            ctl.check_cancel()?;
            uniq.clear();
            pos.clear();
            neg.clear();
            let mut local = |p: u32, uniq: &mut Vec<u32>| {
                if slot[p as usize] == u32::MAX {
                    slot[p as usize] = uniq.len() as u32;
                    uniq.push(p);
                }
                slot[p as usize]
            };
            for &a in anchors {
                let la = local(a, &mut uniq);
                for &p in &positives.row(a as usize)[..nt] {
                    pos.push((la, local(p, &mut uniq)));
                }
                for _ in 0..nt {
                    let mut r = rng.gen_range(0..n as u32);
                    while r == a {
                        r = rng.gen_range(0..n as u32);
                    }
                    neg.push((la, local(r, &mut uniq)));
                }
            }
            for &p in &uniq {
                slot[p as usize] = u32::MAX;
            }
            let ids = Tensor::from_slice(&uniq, uniq.len(), device)?;
            let emb = net.forward(&x.index_select(&ids, 0)?)?;
            let loss = contrastive_loss(&emb, &pos, &neg, cfg.margin)?;
            let value = loss.to_scalar::<f32>()? as f64;
            if !value.is_finite() {
                return Err(GraphError::NonFiniteLoss { phase: "siamese".into(), epoch: epoch + 1 });
            }
            opt.backward_step(&loss)?;
            // 1-based, as every other phase reports.
            ctl.report(&Progress { phase: "siamese", epoch: epoch + 1, epochs: cfg.epochs, batch: b + 1, batches, losses: &[("contrastive", value)] });
        }
    }
    embed(&net, &x, ctl)
}

/// Embeds all rows of `x` in batches, without keeping any autograd graph.
pub fn embed(net: &SiameseNet, x: &Tensor, ctl: &Control) -> Result<Vec<f32>> {
    const ROWS: usize = 4096;
    let n = x.dim(0)?;
    let mut out = Vec::new();
    for start in (0..n).step_by(ROWS) {
        ctl.check_cancel()?;
        let len = ROWS.min(n - start);
        let e = net.forward(&x.narrow(0, start, len)?)?.detach();
        out.extend(e.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}
