#!/usr/bin/env python3
"""The PyTorch peer of `npm run bench:epoch`: the same epoch, written plainly in PyTorch on the CPU.

epoch.rs writes a folder with manifest.json and raw little-endian arrays (the networks' initial
weights, the data, the graph, one check batch) and runs this script on it after its own epoch; the
script prints one JSON object. Install torch with `benches/peers/setup.sh --torch`.

--phase dgg (the default): one DGG epoch of the per-point objective of crates/dgg-core/src/loss.rs,
term for term, with autograd:
  J_p = 1/2 [ sum_d t_pd l_pd - s_p softplus(l_pd)                      (Bernoulli, logits l = g(z))
            + s_p ( -1/2 sum_k gamma_pk G_pk + H(gamma_p) + 1/2 sum_m (1 + lv_pm) )
            + sum_k gamma_pk B_pk ],   loss = -mean_p J_p
with z = mu + e^(lv/2) eps, lv clamped to [-12, 6], gamma = softmax(f2(mu)),
G_pk = sum_m [lv_km + e^(lv_pm - lv_km) + (mu_pm - mu_km)^2 e^-lv_km] and
B_p = ln pi_p + sum_{i: p in N(i)} w_ip ln pi_i, pi_i = 1/2 (gamma_i + sum_j w_ij gamma_j), computed
each step from the table of the latest gamma of every point (crates/dgg-core/src/prior.rs), which
each step then refreshes for its batch. AdamW (decoupled weight decay, as dgg_graph::optim::Adam;
PyTorch's fused CPU kernel) over every parameter.

--phase pretrain: one epoch of end-to-end autoencoder pretraining (pretrain::autoencoder and
step::autoencoder_step): the mean path x -> trunk -> mu -> decoder, loss = mean over rows of
sum_d softplus(l) - x l (Bernoulli), AdamW over the trunk, the mean head and the decoder.

Before timing, the loss of the check batch at the exported initial weights (prior from the uniform
gamma table for dgg) is computed and reported as `check_loss`, next to the engine's value in the
manifest. Then a few warm-up steps time the parts of one step, and one epoch over all points in
shuffled batches is timed (sampling, prior, forward, backward, optimiser, gamma table: what the
engine's epoch does, except its end-of-epoch modularity score).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

LOGVAR_MIN, LOGVAR_MAX, PI_FLOOR = -12.0, 6.0, 1e-10


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder", help="the folder epoch.rs wrote (manifest.json and the arrays)")
    p.add_argument("--phase", choices=["dgg", "pretrain"], default=None, help="default: the manifest's")
    p.add_argument("--threads", type=int, default=None, help="default: the manifest's (the engine's thread count)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--check-only", action="store_true", help="only the loss check, no timing")
    a = p.parse_args()
    with open(os.path.join(a.folder, "manifest.json")) as f:
        man = json.load(f)
    phase = a.phase or man["phase"]
    threads = a.threads or man["threads"]
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(man.get("seed", 1))
    dt = torch.float32

    def arr(name, dtype=np.float32, shape=None):
        v = np.fromfile(os.path.join(a.folder, man["files"][name]), dtype=dtype)
        return torch.from_numpy(v.reshape(shape) if shape is not None else v)

    n, d, m, k, hidden = man["n"], man["d"], man["m"], man["k"], man["hidden"]
    params = {}
    for name, shape in man["params"].items():
        params[name] = torch.nn.Parameter(arr("param:" + name, shape=shape).clone())

    def layers(prefix):
        i, out = 0, []
        while f"{prefix}.l{i}.weight" in params:
            out.append((params[f"{prefix}.l{i}.weight"], params[f"{prefix}.l{i}.bias"]))
            i += 1
        return out

    trunk, decoder, classifier = layers("encoder"), layers("decoder"), layers("classifier")
    lin = torch.nn.functional.linear
    relu = torch.relu

    def mlp(h, ls, relu_last):
        for i, (w, b) in enumerate(ls):
            h = lin(h, w, b)
            if i + 1 < len(ls) or relu_last:
                h = relu(h)
        return h

    x_all = arr("x", shape=(n, d))
    check_idx = arr("check_idx", np.uint32).to(torch.int64)
    batch = man["batch"]

    if phase == "dgg":
        t_all = arr("targets", shape=(n, d))
        s_all = arr("s", shape=(n,))
        gk = man["graph_k"]
        nbr = arr("graph_indices", np.uint32, (n, gk)).to(torch.int64)
        w_fwd = arr("graph_weights", shape=(n, gk))
        # The reverse graph (incoming edges of each point) as CSR, sources in ascending order.
        dst = nbr.reshape(-1)
        order = torch.argsort(dst, stable=True)
        rev_src = (torch.arange(n * gk) // gk)[order]
        rev_w = w_fwd.reshape(-1)[order]
        deg = torch.bincount(dst, minlength=n)
        rev_off = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(deg, 0)])
        table = torch.full((n, k), 1.0 / k, dtype=dt)
        means, logvars = params["gmm.means"], params["gmm.logvars"]
        mu_w, mu_b = params["encoder.mu.weight"], params["encoder.mu.bias"]
        lv_w, lv_b = params["encoder.logvar.weight"], params["encoder.logvar.bias"]

        def ln_pi(rows):
            pi = 0.5 * (table[rows] + (w_fwd[rows].unsqueeze(-1) * table[nbr[rows]]).sum(1))
            return pi.clamp_min(PI_FLOOR).log()

        def prior_rows(idx):
            counts = deg[idx]
            starts = rev_off[idx]
            first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
            e = torch.repeat_interleave(starts, counts) + torch.arange(int(counts.sum())) - first
            rows = torch.repeat_interleave(torch.arange(len(idx)), counts)
            return ln_pi(idx).index_add_(0, rows, rev_w[e].unsqueeze(-1) * ln_pi(rev_src[e]))

        def loss_fn(idx, eps):
            x, t, s = x_all[idx], t_all[idx], s_all[idx]
            prior = prior_rows(idx)
            h = mlp(x, trunk, True)
            mu = lin(h, mu_w, mu_b)
            lv = lin(h, lv_w, lv_b).clamp(LOGVAR_MIN, LOGVAR_MAX)
            z = mu + torch.exp(0.5 * lv) * eps
            logits = mlp(z, decoder, False)
            log_gamma = torch.log_softmax(mlp(mu, classifier, False), -1)
            gamma = log_gamma.exp()
            recon = (t * logits).sum(-1) - s * torch.nn.functional.softplus(logits).sum(-1)
            inv = torch.exp(-logvars)  # K x M
            g = (logvars + torch.exp(lv).unsqueeze(1) * inv + (mu.unsqueeze(1) - means) ** 2 * inv).sum(-1)  # P x K
            gmm = -0.5 * (gamma * g).sum(-1)
            h_gamma = -(gamma * log_gamma).sum(-1)
            ent = 0.5 * (lv + 1.0).sum(-1)
            j = 0.5 * (recon + s * (gmm + h_gamma + ent) + (gamma * prior).sum(-1))
            return -j.mean(), gamma

        def after_step(idx, gamma):
            table[idx] = gamma.detach()

        def noise(rows):
            return torch.randn(rows, m, dtype=dt)

        opt_params = list(params.values())
        check_eps = arr("check_eps", shape=(len(check_idx), m))
    else:
        mu_w, mu_b = params["encoder.mu.weight"], params["encoder.mu.bias"]

        def loss_fn(idx, _eps):
            x = x_all[idx]
            logits = mlp(lin(mlp(x, trunk, True), mu_w, mu_b), decoder, False)
            return -((x * logits).sum(-1) - torch.nn.functional.softplus(logits).sum(-1)).mean(), None

        def after_step(idx, gamma):
            pass

        def noise(rows):
            return None

        opt_params = [v for name, v in params.items() if name.startswith("decoder.") or (name.startswith("encoder.") and not name.startswith("encoder.logvar."))]
        check_eps = None

    with torch.no_grad():
        check_loss = float(loss_fn(check_idx, check_eps)[0])
    rust_loss = man.get("check_loss")
    out = {
        "phase": phase,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "check_loss": check_loss,
        "check_loss_engine": rust_loss,
        "loss_match": None if rust_loss is None else abs(check_loss - rust_loss) <= 1e-4 * abs(rust_loss),
    }
    if a.check_only:
        print(json.dumps(out))
        return

    # AdamW as the engine's (decoupled weight decay, betas 0.9/0.999, eps 1e-8), in PyTorch's fused
    # CPU kernel: on 2 cores its default per-tensor loop takes about 6 times as long per step.
    adam = dict(lr=man["lr"], weight_decay=man["weight_decay"], betas=(0.9, 0.999), eps=1e-8)
    try:
        opt, optimizer = torch.optim.AdamW(opt_params, fused=True, **adam), "AdamW(fused=True)"
    except (RuntimeError, TypeError, ValueError):
        opt, optimizer = torch.optim.AdamW(opt_params, **adam), "AdamW"
    # Warm-up: the parts of one step on the first batch of a shuffled order, a few times each.
    idx0 = torch.randperm(n)[:batch]
    reps = max(a.warmup, 1)
    t0 = time.perf_counter()
    for _ in range(reps):
        loss_fn(idx0, noise(batch))
    forward_s = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_fn(idx0, noise(batch))
        loss.backward()
    step_s = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        opt.step()
    optimiser_s = (time.perf_counter() - t0) / reps

    # One epoch: every point once, in shuffled batches.
    sums, steps = 0.0, 0
    t0 = time.perf_counter()
    order = torch.randperm(n)
    for idx in torch.split(order, batch):
        opt.zero_grad(set_to_none=True)
        loss, gamma = loss_fn(idx, noise(len(idx)))
        loss.backward()
        total = loss.item()
        if not np.isfinite(total):
            sys.exit(f"epoch_torch.py: non-finite loss at step {steps + 1}")
        opt.step()
        after_step(idx, gamma)
        sums += total
        steps += 1
    seconds = time.perf_counter() - t0
    flops = man.get("epoch_flops")
    out.update(
        {
            "seconds_per_epoch": seconds,
            "gflops": flops / seconds / 1e9 if flops else None,
            "steps": steps,
            "batch": batch,
            "mean_loss": sums / steps,
            "step_parts_seconds": {"forward": forward_s, "forward_and_gradients": step_s, "optimiser": optimiser_s},
            "optimizer": optimizer,
            "mkldnn": torch.backends.mkldnn.is_available(),
        }
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
