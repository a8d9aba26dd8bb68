//! Research (benches/research/defaults.md): the spectral start alone on the data-space kNN graph,
//! for several neighbour counts, with its eigengap and modularity.
//! `cargo run --release -p dgg-benches --bin study_spectral -- SET[,SET...] 5,10,20 [SCHEME,...]`
//! (DGG_DATA_DIR set). A count is a plain number (uniform weights), or `ms<a>-<b>-...` for a
//! multiscale graph: the largest count's neighbours, the one of rank r weighted by how many of the
//! counts exceed r (`ms5-10-20`: ranks 1-5 weigh 3, 6-10 weigh 2, 11-20 weigh 1), or `h<k>` for
//! weights 1/rank over k neighbours.
use dgg_benches::datasets;
use dgg_core::config::Config;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for name in args[1].split(',') {
        let data = datasets::load(name, &root, datasets::data_dir(&args).as_deref()).unwrap();
        let cfg0 = Config { n_clusters: data.k, ..Config::default() };
        let scaled = dgg_core::data::Scaler::fit(cfg0.scale, &data.x, data.n, data.d).apply(&data.x, data.d).into_owned();
        let mut line = format!("{name} n={} k={}", data.n, data.k);
        for spec in args[2].split(',') {
            let (nn, rank_weight): (usize, Box<dyn Fn(usize) -> f32>) = if let Some(m) = spec.strip_prefix("ms") {
                let counts: Vec<usize> = m.split('-').map(|c| c.parse().unwrap()).collect();
                let top = *counts.iter().max().unwrap();
                (top, Box::new(move |r| counts.iter().filter(|&&c| r < c).count() as f32))
            } else if let Some(h) = spec.strip_prefix('h') {
                (h.parse().unwrap(), Box::new(|r| 1.0 / (r + 1) as f32))
            } else {
                (spec.parse().unwrap(), Box::new(|_| 1.0))
            };
            let cfg = Config { neighbours: nn, ..cfg0.clone() };
            let t = Instant::now();
            let g = dgg_core::pipeline::build_graph(&scaled, data.n, data.d, &cfg).unwrap();
            let row: Vec<f32> = (0..nn).map(&rank_weight).collect();
            let total: f32 = row.iter().sum();
            let weights: Vec<f32> = (0..data.n).flat_map(|_| row.iter().map(|w| w / total)).collect();
            let g = dgg_graph::Graph::from_parts(data.n, nn, g.indices.clone(), weights).unwrap();
            let t_graph = t.elapsed().as_secs_f64();
            let p = dgg_core::pipeline::spectral_start(&g, &cfg);
            let t_start = t.elapsed().as_secs_f64() - t_graph;
            let truth: Vec<i64> = data.labels.iter().map(|&l| l as i64).collect();
            let s = dgg_core::metrics::evaluate(&p.iter().map(|&l| l as i64).collect::<Vec<_>>(), &truth).unwrap();
            let t_eigen = Instant::now();
            let (_, ev) = dgg_core::spectral::spectral_eigen(&g, dgg_core::spectral::spectral_dims(data.k), 2000, 44);
            let t_eigen = t_eigen.elapsed().as_secs_f64();
            let k = data.k;
            let gap = ev[k - 1] - ev[k];
            let rel = gap / (1.0 - ev[k]).max(1e-9);
            line += &format!(
                " | {spec}: acc {:.3} gap {:.4} rel {:.3} lk {:.3} Q {:.3} {:.1}s",
                s.acc,
                gap,
                rel,
                ev[k - 1],
                g.modularity(&p).unwrap(),
                t.elapsed().as_secs_f64()
            );
            line += &format!(" (graph {t_graph:.1}s, start {t_start:.1}s of which eigenvectors about {t_eigen:.1}s)");
        }
        println!("{line}");
    }
}
