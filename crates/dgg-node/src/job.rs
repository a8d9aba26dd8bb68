//! A closure run on the libuv thread pool, so long work never blocks the JS thread.

use crate::error::guard;
use napi::bindgen_prelude::{ToNapiValue, TypeName};
use napi::{Env, Task};

type Work<T> = Box<dyn FnOnce() -> napi::Result<T> + Send>;

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
