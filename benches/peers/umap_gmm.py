#!/usr/bin/env python3
"""The UMAP -> GMM peer (the N2D recipe without its autoencoder), run by `npm run bench:suite`.

Reads a float32 matrix (N x D, .npy), runs for each seed
  umap.UMAP(n_components=K, n_neighbors=20, min_dist=0, random_state=seed)
  then GaussianMixture(K, covariance_type='full', random_state=seed)
and prints one JSON line per seed: {"seed", "labels", "seconds", "peak_rss_mb"}. The seconds cover
UMAP and the GMM, not the imports or the reading of the file.
"""
import argparse
import json
import resource
import sys
import time
import warnings

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data", help="float32 .npy, N x D")
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--seeds", type=str, required=True, help="comma-separated seeds")
    a = p.parse_args()
    warnings.filterwarnings("ignore")
    import umap
    from sklearn.mixture import GaussianMixture

    x = np.load(a.data)
    for seed in (int(s) for s in a.seeds.split(",")):
        t0 = time.perf_counter()
        emb = umap.UMAP(n_components=a.k, n_neighbors=20, min_dist=0.0, random_state=seed).fit_transform(x)
        labels = GaussianMixture(a.k, covariance_type="full", random_state=seed).fit_predict(emb)
        seconds = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(json.dumps({"seed": seed, "labels": labels.tolist(), "seconds": seconds, "peak_rss_mb": rss}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
