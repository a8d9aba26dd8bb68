//! Where native work runs. Short calls (predict, save, load) are a [`Job`] on libuv's thread
//! pool. Training and graph builds run for seconds to hours, and libuv has only 4 threads (which
//! `fs`, `dns` and `zlib` share), so [`spawn`] gives each one a thread of its own, runs it inside
//! a compute pool of its own ([`compute_pool`], a rayon pool of `threads` workers) and settles a
//! promise from that thread.

use crate::error::guard;
use napi::bindgen_prelude::{Object, ToNapiValue, TypeName};
use napi::{Env, Task};

type Work<T> = Box<dyn FnOnce() -> napi::Result<T> + Send>;

/// A short closure run on the libuv thread pool (through `AsyncTask`).
pub struct Job<T> {
    work: Option<Work<T>>,
}

impl<T> Job<T> {
    pub fn new(work: impl FnOnce() -> napi::Result<T> + Send + 'static) -> Self {
        Self { work: Some(Box::new(work)) }
    }
}

impl<T: ToNapiValue + TypeName + Send + 'static> Task for Job<T> {
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> napi::Result<T> {
        let work = self.work.take().ok_or_else(|| napi::Error::from_reason("INTERNAL: job ran twice"))?;
        guard(work)
    }

    fn resolve(&mut self, _env: Env, output: T) -> napi::Result<T> {
        Ok(output)
    }
}

/// The stack of job and compute threads: the engine's recursion is shallow, but hnsw_rs and
/// candle keep large frames, and libuv's threads (which ran this work before) have 8 MiB.
const STACK: usize = 8 << 20;

/// A compute pool of `threads` workers (every available core when `None`), one per job: a job's
/// pool is its own, so a short build never waits behind a long fit that shares its workers (rayon
/// lets a worker blocked in a join pick up another caller's job). rayon (the engine's loops) and
/// gemm (candle's matrix products) run on the pool the job was installed in.
pub fn compute_pool(threads: Option<u32>) -> napi::Result<rayon::ThreadPool> {
    let n = match threads {
        Some(t) if t > 0 => t as usize,
        _ => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .stack_size(STACK)
        .thread_name(|i| format!("dgg-compute-{i}"))
        .build()
        .map_err(|e| napi::Error::from_reason(format!("INTERNAL: cannot start {n} compute threads: {e}")))
}

/// Runs `work` on a new thread inside the compute pool of `threads` workers and returns a promise
/// of its result. No libuv thread is held while it runs; a panic rejects with `INTERNAL`.
pub fn spawn<'env, T: ToNapiValue + Send + 'static>(
    env: &'env Env,
    threads: Option<u32>,
    work: impl FnOnce() -> napi::Result<T> + Send + 'static,
) -> napi::Result<Object<'env>> {
    type Resolver<T> = Box<dyn FnOnce(Env) -> napi::Result<T> + Send>;
    let pool = compute_pool(threads)?;
    let (deferred, promise) = env.create_deferred::<T, Resolver<T>>()?;
    std::thread::Builder::new()
        .name("dgg-job".into())
        .stack_size(STACK)
        .spawn(move || match guard(|| pool.install(work)) {
            Ok(value) => deferred.resolve(Box::new(move |_| Ok(value))),
            Err(e) => deferred.reject(e),
        })
        .map_err(|e| napi::Error::from_reason(format!("INTERNAL: cannot start a job thread: {e}")))?;
    Ok(promise)
}
