//! Research: the spectral start alone on the data-space kNN graph, for several neighbour counts.
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
            let g10 = dgg_core::pipeline::build_graph(&scaled, data.n, data.d, &Config { neighbours: 10, ..cfg0.clone() }).unwrap();
            line += &format!(" | nn{nn}: acc {:.3} Q {:.3} Q10 {:.3} pur {:.3} {:.1}s", s.acc, g.modularity(&p).unwrap(), g10.modularity(&p).unwrap(), g.purity(&data.labels).unwrap(), t.elapsed().as_secs_f64());
        }
        println!("{line}");
    }
}
