//! `fit`: training on a thread of its own in the compute pool (`job::spawn`), progress events to a
//! JS callback, cancellation by token.

use crate::error::to_napi;
use crate::graph::NativeGraph;
use crate::job::spawn;
use crate::model::NativeModel;
use crate::options::NativeOptions;
use indexmap::IndexMap;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One training step's report.
#[napi(object)]
pub struct NativeProgress {
    pub phase: String,
    pub epoch: u32,
    pub epochs: u32,
    pub batch: u32,
    pub batches: u32,
    pub losses: IndexMap<String, f64>,
}

/// Set from JS (an AbortSignal's listener); the engine polls it every batch.
#[napi]
pub struct CancelToken {
    pub(crate) flag: Arc<AtomicBool>,
}

#[napi]
impl CancelToken {
    #[napi(constructor)]
    pub fn new() -> Self {
        Self { flag: Arc::new(AtomicBool::new(false)) }
    }

    #[napi]
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    #[napi(getter)]
    pub fn cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

#[napi(object)]
pub struct PhaseTiming {
    pub phase: String,
    pub seconds: f64,
}

#[napi(object)]
pub struct EpochLoss {
    pub phase: String,
    pub epoch: u32,
    pub seconds: f64,
    pub losses: IndexMap<String, f64>,
}

#[napi(object, object_from_js = false)]
pub struct NativeFitResult {
    pub model: NativeModel,
    pub labels: Int32Array,
    /// N x K, row-major.
    pub probabilities: Float32Array,
    /// N x M, row-major.
    pub embedding: Float32Array,
    pub timings: Vec<PhaseTiming>,
    pub history: Vec<EpochLoss>,
    pub graph: Option<NativeGraph>,
    pub device: String,
    pub device_reason: String,
    pub warnings: Vec<String>,
}

/// Trains a model on `data` (rows x cols, row-major). `on_progress` is a weak callback: it does
/// not keep the process alive on its own.
#[napi(ts_return_type = "Promise<NativeFitResult>")]
#[allow(clippy::too_many_arguments)] // each is one positional argument of the JS function
pub fn fit<'env>(
    env: &'env Env,
    data: Float32Array,
    rows: u32,
    cols: u32,
    options: NativeOptions,
    graph: Option<NativeGraph>,
    on_progress: Option<ThreadsafeFunction<NativeProgress, (), NativeProgress, Status, false, true>>,
    cancel: Option<&CancelToken>,
    checkpoint_dir: Option<String>,
) -> Result<Object<'env>> {
    let cfg = options.to_config()?;
    let graph = graph.map(|g| g.to_graph()).transpose()?;
    let flag = cancel.map(|c| c.flag.clone()).unwrap_or_default();
    spawn(env, options.threads, move || {
        let report = reporter(on_progress);
        let ctl = dgg_graph::Control { progress: Some(&report), cancel: Some(&flag) };
        let dir = checkpoint_dir.as_deref().map(std::path::Path::new);
        let out = dgg_core::fit_resumable(&data, rows as usize, cols as usize, &cfg, graph, &ctl, dir).map_err(to_napi)?;
        Ok(NativeFitResult {
            labels: Int32Array::new(out.labels.iter().map(|&l| l as i32).collect()),
            probabilities: Float32Array::new(out.proba),
            embedding: Float32Array::new(out.embedding),
            timings: out.timings.into_iter().map(|(phase, seconds)| PhaseTiming { phase, seconds }).collect(),
            history: out
                .history
                .into_iter()
                .map(|r| EpochLoss { phase: r.phase, epoch: r.epoch as u32, seconds: r.seconds, losses: r.losses.into_iter().collect() })
                .collect(),
            graph: out.graph.map(NativeGraph::from_graph),
            device: out.device,
            device_reason: out.device_reason,
            warnings: out.warnings,
            model: NativeModel::new(out.model),
        })
    })
}

/// A JS progress callback (spelled out in `#[napi]` signatures, whose typings cannot name an alias).
pub type ProgressCallback = ThreadsafeFunction<NativeProgress, (), NativeProgress, Status, false, true>;

/// The engine's progress reports passed on to `callback` (without blocking the engine).
pub fn reporter(callback: Option<ProgressCallback>) -> impl Fn(&dgg_graph::Progress) + Sync {
    move |p: &dgg_graph::Progress| {
        if let Some(cb) = &callback {
            let event = NativeProgress {
                phase: p.phase.to_string(),
                epoch: p.epoch as u32,
                epochs: p.epochs as u32,
                batch: p.batch as u32,
                batches: p.batches as u32,
                losses: p.losses.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            };
            cb.call(event, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}
