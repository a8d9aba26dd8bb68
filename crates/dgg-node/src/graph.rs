//! Graphs across the boundary: caller-supplied graphs in, built graphs out, save and load.

use crate::error::to_napi;
use crate::fit::{reporter, CancelToken, NativeProgress};
use crate::job::{spawn, Job};
use dgg_graph::Graph;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

/// A neighbour graph: row i lists its k neighbours (`indices`) and their weights (each row sums to 1).
#[napi(object)]
pub struct NativeGraph {
    pub n: u32,
    pub k: u32,
    pub indices: Uint32Array,
    pub weights: Float32Array,
}

impl NativeGraph {
    pub fn to_graph(&self) -> napi::Result<Graph> {
        Graph::from_parts(self.n as usize, self.k as usize, self.indices.to_vec(), self.weights.to_vec()).map_err(|e| to_napi(e.into()))
    }

    pub fn from_graph(g: Graph) -> Self {
        Self { n: g.n as u32, k: g.k as u32, indices: Uint32Array::new(g.indices), weights: Float32Array::new(g.weights) }
    }
}

/// Builds the neighbour graph `fit` would build with these options (Euclidean or Siamese), on a
/// thread of its own in the compute pool, with progress and cancellation as in `fit`.
#[napi(ts_return_type = "Promise<NativeGraph>")]
pub fn build_graph<'env>(
    env: &'env Env,
    data: Float32Array,
    rows: u32,
    cols: u32,
    options: crate::options::NativeOptions,
    on_progress: Option<ThreadsafeFunction<NativeProgress, (), NativeProgress, Status, false, true>>,
    cancel: Option<&CancelToken>,
) -> Result<Object<'env>> {
    let cfg = options.to_config()?;
    let flag = cancel.map(|c| c.flag.clone()).unwrap_or_default();
    spawn(env, options.threads, move || {
        let report = reporter(on_progress);
        let ctl = dgg_graph::Control { progress: Some(&report), cancel: Some(&flag) };
        let g = dgg_core::pipeline::graph_only(&data, rows as usize, cols as usize, &cfg, &ctl).map_err(to_napi)?;
        Ok(NativeGraph::from_graph(g))
    })
}

#[napi(ts_return_type = "Promise<void>")]
pub fn save_graph(graph: NativeGraph, path: String) -> Result<AsyncTask<Job<()>>> {
    let g = graph.to_graph()?;
    Ok(AsyncTask::new(Job::new(move || g.save(std::path::Path::new(&path)).map_err(|e| to_napi(e.into())))))
}

#[napi(ts_return_type = "Promise<NativeGraph>")]
pub fn load_graph(path: String) -> AsyncTask<Job<NativeGraph>> {
    AsyncTask::new(Job::new(move || Ok(NativeGraph::from_graph(Graph::load(std::path::Path::new(&path)).map_err(|e| to_napi(e.into()))?))))
}

/// Fraction of neighbour slots whose label equals the point's own.
#[napi(catch_unwind)]
pub fn graph_purity(graph: NativeGraph, labels: Int32Array) -> Result<f64> {
    let g = graph.to_graph()?;
    if labels.len() != g.n {
        return Err(crate::error::invalid_option("labels", format!("has {} entries, the graph has {} points", labels.len(), g.n)));
    }
    let l: Vec<u32> = labels.iter().map(|&v| v as u32).collect();
    g.purity(&l).map_err(|e| to_napi(e.into()))
}
