//! Research (benches/research/defaults.md): the spectral start alone on the data-space kNN graph,
//! for several neighbour counts, with its eigengap and modularity.
//! `cargo run --release -p dgg-benches --bin study_spectral -- SET[,SET...] 5,10,20` (DGG_DATA_DIR set).
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
        for nn in args[2].split(',').map(|s| s.parse::<usize>().unwrap()) {
            let cfg = Config { neighbours: nn, ..cfg0.clone() };
            let t = Instant::now();
            let g = dgg_core::pipeline::build_graph(&scaled, data.n, data.d, &cfg).unwrap();
            let p = dgg_core::pipeline::spectral_start(&g, &cfg);
            let truth: Vec<i64> = data.labels.iter().map(|&l| l as i64).collect();
            let s = dgg_core::metrics::evaluate(&p.iter().map(|&l| l as i64).collect::<Vec<_>>(), &truth).unwrap();
            let (_, ev) = dgg_core::spectral::spectral_eigen(&g, dgg_core::spectral::spectral_dims(data.k), 2000, 44);
            let k = data.k;
            let gap = ev[k - 1] - ev[k];
            let rel = gap / (1.0 - ev[k]).max(1e-9);
            line += &format!(" | nn{nn}: acc {:.3} gap {:.4} rel {:.3} lk {:.3} Q {:.3} {:.1}s", s.acc, gap, rel, ev[k-1], g.modularity(&p).unwrap(), t.elapsed().as_secs_f64());
        }
        println!("{line}");
    }
}
