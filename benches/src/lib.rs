//! Shared pieces of the benchmark binaries: data sets, per-data-set defaults, result files.

pub mod baselines;
pub mod datasets;
pub mod mnist;

fn command(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd).args(args).output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}

/// `cfg` with `patch` merged into its JSON form (serde names, e.g. `{"epochs":{"dgg":0}}`):
/// objects merge key by key, anything else replaces. For research runs (`--override`).
pub fn patch_config(cfg: &dgg_core::config::Config, patch: &serde_json::Value) -> Result<dgg_core::config::Config, String> {
    fn merge(base: &mut serde_json::Value, patch: &serde_json::Value) {
        match (base, patch) {
            (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
                for (k, v) in p {
                    merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
            (b, p) => *b = p.clone(),
        }
    }
    let mut v = serde_json::to_value(cfg).map_err(|e| e.to_string())?;
    merge(&mut v, patch);
    serde_json::from_value(v).map_err(|e| format!("--override: {e}"))
}

/// Adds machine, date, commit and the command that ran to `value`, writes it to
/// benches/results/NAME.json atomically and returns it.
pub fn write_result(name: &str, mut value: serde_json::Value) -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    let machine = format!("{} cores, {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), cpu);
    value["machine"] = serde_json::json!(machine);
    value["date"] = serde_json::json!(command("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]));
    value["commit"] = serde_json::json!(command("git", &["rev-parse", "--short", "HEAD"]));
    let bin = std::env::args().next().map(|a| a.rsplit('/').next().unwrap_or("").to_string()).unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let script = if args.is_empty() { format!("npm run bench:{bin}") } else { format!("npm run bench:{bin} -- {}", args.join(" ")) };
    value["command"] = serde_json::json!(script);
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{name}.json"));
    let tmp = dir.join(format!(".{name}.json.tmp"));
    if std::fs::write(&tmp, format!("{value}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
    value
}

/// A random `k`-neighbour graph (no self loops) with uniform weights: the cost of a training step
/// depends on the number of neighbours, not on which they are.
pub fn random_graph(n: usize, k: usize, rng: &mut rand_chacha::ChaCha8Rng) -> dgg_graph::Result<dgg_graph::Graph> {
    use rand::Rng;
    let mut indices = Vec::with_capacity(n * k);
    for i in 0..n {
        for _ in 0..k {
            let mut j = rng.gen_range(0..n);
            while j == i {
                j = rng.gen_range(0..n);
            }
            indices.push(j as u32);
        }
    }
    dgg_graph::Graph::from_parts(n, k, indices, vec![1.0 / k as f32; n * k])
}

/// The process's peak resident memory so far (VmHWM), in MiB; `None` where /proc is absent.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
