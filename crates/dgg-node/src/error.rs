//! Engine errors become JS errors whose message starts with a stable code ("INVALID_DATA: ...");
//! the TypeScript layer turns that prefix into `err.code`.

use dgg_core::DggError;

pub fn to_napi(e: DggError) -> napi::Error {
    napi::Error::from_reason(format!("{}: {}", e.code(), e))
}

pub fn invalid_option(field: &str, reason: impl std::fmt::Display) -> napi::Error {
    napi::Error::from_reason(format!("INVALID_OPTION: {field}: {reason}"))
}

/// Runs `f`, turning a panic into an INTERNAL error so it never takes the Node process down.
pub fn guard<T>(f: impl FnOnce() -> napi::Result<T>) -> napi::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(napi::Error::from_reason(format!("INTERNAL: the native engine panicked: {msg}")))
        }
    }
}
