#!/usr/bin/env python3
"""PyTorch replica of the public DGG code's training step (mnist/DGG.py, train()), for timing.

Same shapes and the same per-step work as the original:
- a batch is 100 centres x 21 rows (the centre and its 20 neighbours), laid out neighbour-major
  (row i*100 + c is neighbour i of centre c; neighbour 0 is the centre), 2100 x 784;
- the paper's network: encoder 784-500-500-2000 (ReLU) with mean and log-variance heads 2000->10,
  decoder 10-2000-500-500-784 (ReLU, sigmoid output), classifier Linear(10, 10) + Softmax, GMM means
  and standard deviations as (1, 10, 10) parameters;
- per step, as the original: a no-gradient pass for the prior of c (pc), the ELBO with the
  Bernoulli reconstruction evaluated for every (centre, neighbour) pair, the GMM term, the
  entropies and the prior term, weighted per pair ('No_inform' weights: 1/2 for the centre and
  1/40 for each neighbour); Adam (lr 0.002, weight decay 1e-4); then the original's bookkeeping
  (loss.item(), the predicted labels of the centres, the squared-gamma sum, the centres'
  reconstruction BCE, the GMM variance means), which synchronises with the GPU several times.
The neighbours are random (the time of a step does not depend on which they are).

Modes (both time the same step function):
- gpu: the data and the neighbour table on the GPU; each batch gathered there (the figure to
  compare with dgg-native's CUDA epoch);
- original: the data on the CPU as a (N, 784, 21) tensor behind a DataLoader (batch 100, shuffle),
  each batch concatenated on the CPU and copied with .cuda(), the noise drawn on the CPU and
  copied, the pair weights computed on the CPU: as the public code does. Timed over --original-steps
  steps on a --original-points subset (the per-batch cost does not depend on the data set's size).

Writes one JSON object to --out (and prints it).
"""
import argparse
import gzip
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

N_N = 21  # rows per centre: itself and 20 neighbours
CENTRES = 100  # the original's BATCH_SIZE
L = 10  # latent size and number of clusters


def read_idx(folder, name, header):
    path = os.path.join(folder, name)
    if os.path.exists(path):
        with open(path, "rb") as f:
            raw = f.read()
    else:
        with gzip.open(path + ".gz", "rb") as f:
            raw = f.read()
    if raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{name}: not an IDX uint8 file")
    return torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8)


def load_mnist(folder):
    xs, ys = [], []
    for img, lab in (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
        xs.append(read_idx(folder, img, 16).view(-1, 784).float() / 255.0)
        ys.append(read_idx(folder, lab, 8).long())
    return torch.cat(xs), torch.cat(ys)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.ModuleList([nn.Linear(784, 500), nn.Linear(500, 500), nn.Linear(500, 2000)])
        self.mean = nn.Linear(2000, L)
        self.logvar = nn.Linear(2000, L)
        self.dec = nn.ModuleList([nn.Linear(L, 2000), nn.Linear(2000, 500), nn.Linear(500, 500), nn.Linear(500, 784)])

    def get_latent(self, x):
        for layer in self.enc:
            x = F.relu(layer(x))
        return self.mean(x), self.logvar(x)

    def get_recon(self, z):
        for layer in self.dec[:-1]:
            z = F.relu(layer(z))
        return torch.sigmoid(self.dec[-1](z))


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(L, L), nn.Softmax(dim=1))

    def forward(self, x):
        return self.model(x)


class GMM(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = nn.Parameter(torch.randn(1, L, L))
        self.std = nn.Parameter(torch.ones(1, L, L))

    def log_prob(self, data_mean, data_logvar, cond_prob, weight):
        term1 = torch.sum(-torch.log((self.std ** 2) * 2 * math.pi), dim=1) * 0.5
        term2 = torch.sum(-torch.div(torch.pow(data_mean.view(-1, L, 1) - self.mean, 2) + torch.exp(data_logvar).view(-1, L, 1), self.std ** 2), dim=1) * 0.5
        log_p1 = torch.sum((term2 + term1) * cond_prob, dim=-1)
        return torch.sum(log_p1 * weight)

    def compute_entropy(self, p, weight):
        return torch.sum(torch.sum(-p * torch.log(p + 1e-10), dim=-1) * weight)


def no_inform_weights(n_rows):
    """The original's 'No_inform' similarity for one centre: [1, 1/20, ...] normalised."""
    w = torch.ones(1, N_N) / (N_N - 1)
    w[0, 0] = 1
    w = torch.ones(n_rows, 1) * w
    return w / torch.sum(w, dim=1, keepdim=True)


class Trainer:
    def __init__(self, dev):
        self.dev = dev
        self.vae = VAE().to(dev)
        self.cls = Classifier().to(dev)
        self.gmm = GMM().to(dev)
        params = list(self.vae.parameters()) + list(self.cls.parameters()) + list(self.gmm.parameters())
        self.opt = torch.optim.Adam(params, lr=0.002, weight_decay=0.0001)
        self.stats = {"loss": [], "entropy": 0.0, "recon": 0.0, "var": [], "std": []}
        self.preds = []

    def step(self, inputs, target, weight, noise):
        """One step of the original's train() loop; inputs/target 2100 x 784 on the GPU."""
        vae, cls, gmm = self.vae, self.cls, self.gmm
        n = inputs.size(0) // N_N
        # Prior of c from the neighbours' current gamma (the original: vae.eval(); .data).
        x_mean, _ = vae.get_latent(inputs)
        pc = cls(x_mean).detach() * weight.view(-1, 1)
        pc_sum = 0
        for i in range(N_N):
            pc_sum = pc_sum + pc[i * n:(i + 1) * n, :]
        pc = torch.cat([pc_sum] * N_N, dim=0)
        # The ELBO over every (centre, neighbour) pair.
        x_mean, x_logvar = vae.get_latent(inputs)
        x_sample = x_mean + torch.exp(0.5 * x_logvar) * noise(x_mean.size())
        x_re = vae.get_recon(x_sample)
        log_recon = torch.sum(target * torch.log(x_re + 1e-10) + (1 - target) * torch.log(1 - x_re + 1e-10), dim=1)
        elbo = torch.sum(log_recon * weight)
        cond_prob = cls(x_mean)
        elbo = elbo + gmm.log_prob(x_mean, x_logvar, cond_prob, weight)
        elbo = elbo + gmm.compute_entropy(cond_prob, weight)
        elbo = elbo + 0.5 * torch.sum(torch.sum(x_logvar, dim=-1) * weight)
        elbo = elbo + torch.sum(torch.sum(cond_prob * torch.log(pc), dim=-1) * weight)
        loss = -elbo / n
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        # The original's bookkeeping after each step.
        self.stats["loss"].append(loss.item())
        x_mean, _ = vae.get_latent(inputs[:n, :].detach())
        self.preds.append(torch.max(cls(x_mean), dim=-1)[1])
        self.stats["entropy"] += torch.sum(torch.pow(cond_prob, 2)).item()
        x_re = vae.get_recon(x_mean)
        self.stats["recon"] += F.binary_cross_entropy(x_re, inputs[:n, :]).item()
        # (the original copies these two to numpy; .item() makes the same device-to-host copy)
        self.stats["var"].append(torch.mean(gmm.std.data ** 2).item())
        self.stats["std"].append(torch.mean(gmm.std.data).item())


def tf32_setting():
    """How torch runs float32 matmuls here (its default: full precision, no TF32)."""
    m = torch.backends.cuda.matmul
    value = getattr(m, "fp32_precision", None)  # torch >= 2.9
    return str(value) if value is not None else ("tf32" if m.allow_tf32 else "ieee")


def sync():
    torch.cuda.synchronize()


def run_gpu(trainer, x, nbr, epochs, warmup):
    """Data and neighbour table on the GPU; returns the seconds of each full epoch."""
    dev = trainer.dev
    n = x.size(0)
    weight = no_inform_weights(CENTRES).to(dev).t().reshape(-1)  # neighbour-major, 2100
    noise = lambda size: torch.randn(size, device=dev)

    def batches(order):
        for b in range(0, n, CENTRES):
            c = order[b:b + CENTRES]
            rows = torch.cat([c.unsqueeze(1), nbr[c]], dim=1)  # centres x 21
            inputs = x[rows.t().reshape(-1)]
            target = x[c].repeat(N_N, 1)
            w = weight if c.numel() == CENTRES else no_inform_weights(c.numel()).to(dev).t().reshape(-1)
            yield inputs, target, w

    order = torch.randperm(n, device=dev)
    for i, (inputs, target, w) in enumerate(batches(order)):
        if i >= warmup:
            break
        trainer.step(inputs, target, w, noise)
    secs = []
    for _ in range(epochs):
        sync()
        t = time.perf_counter()
        for inputs, target, w in batches(torch.randperm(n, device=dev)):
            trainer.step(inputs, target, w, noise)
        sync()
        secs.append(time.perf_counter() - t)
    return secs


def run_original(trainer, x_cpu, nbr_cpu, points, steps):
    """The original's data path (CPU tensor, DataLoader, .cuda() per batch); seconds per step."""
    from torch.utils.data import DataLoader, TensorDataset

    n = x_cpu.size(0)
    idx = torch.randperm(n)[:points]
    rows = torch.cat([idx.unsqueeze(1), nbr_cpu[idx]], dim=1)  # points x 21
    image_train = x_cpu[rows].permute(0, 2, 1).contiguous()  # points x 784 x 21, as the original's
    loader = DataLoader(TensorDataset(image_train), batch_size=CENTRES, shuffle=True)
    noise = lambda size: torch.randn(size).cuda()
    done, t = 0, None
    while done < steps + 10:
        for (batch,) in loader:
            if done == 10:  # ten warm-up steps
                sync()
                t = time.perf_counter()
            if done >= steps + 10:
                break
            n_c = batch.size(0)
            inputs = torch.cat([batch[:, :, i] for i in range(N_N)], dim=0).cuda()
            target = torch.cat([batch[:, :, 0] for _ in range(N_N)], dim=0).cuda()
            w = no_inform_weights(n_c)
            w = torch.cat([w[:, i] for i in range(N_N)]).cuda()
            trainer.step(inputs, target, w, noise)
            done += 1
    sync()
    return (time.perf_counter() - t) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnist", required=True, help="folder with the four MNIST IDX files, raw or .gz")
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "pytorch_replica.json"))
    ap.add_argument("--epochs", type=int, default=2, help="full epochs timed in gpu mode")
    ap.add_argument("--warmup", type=int, default=30, help="warm-up steps before the timed epochs")
    ap.add_argument("--original-steps", type=int, default=200)
    ap.add_argument("--original-points", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device for torch")
    torch.manual_seed(args.seed)
    dev = torch.device("cuda")
    started = time.perf_counter()
    x_cpu, _ = load_mnist(args.mnist)
    n = x_cpu.size(0)
    # 20 random neighbours per point, never the point itself.
    nbr_cpu = (torch.arange(n).unsqueeze(1) + torch.randint(1, n, (n, 20))) % n
    result = {
        "bench": "pytorch_replica",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0),
        "fp32_matmul_precision": tf32_setting(),
        "n": n,
        "rows_per_step": CENTRES * N_N,
        "steps_per_epoch": math.ceil(n / CENTRES),
        "network": "784-500-500-2000-10 (mean and log-variance heads), decoder 10-2000-500-500-784, classifier 10-10",
    }

    trainer = Trainer(dev)
    secs = run_gpu(trainer, x_cpu.to(dev), nbr_cpu.to(dev), args.epochs, args.warmup)
    per_epoch = sum(secs) / len(secs)
    result["gpu_data"] = {
        "epoch_seconds": secs,
        "seconds_per_epoch": per_epoch,
        "ms_per_step": 1000 * per_epoch / result["steps_per_epoch"],
        "minutes_for_300_epochs": per_epoch * 300 / 60,
    }
    print(f"gpu data: {per_epoch:.2f} s/epoch", flush=True)

    if args.original_steps > 0:
        trainer = Trainer(dev)
        step_s = run_original(trainer, x_cpu, nbr_cpu, min(args.original_points, n), args.original_steps)
        result["original_data_path"] = {
            "steps_timed": args.original_steps,
            "ms_per_step": 1000 * step_s,
            "seconds_per_epoch_estimate": step_s * result["steps_per_epoch"],
            "minutes_for_300_epochs_estimate": step_s * result["steps_per_epoch"] * 300 / 60,
        }
        print(f"original data path: {1000 * step_s:.2f} ms/step", flush=True)

    result["total_seconds"] = time.perf_counter() - started
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
