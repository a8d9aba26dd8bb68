//! Shared pieces of the benchmark binaries: data sets, per-data-set defaults, result files.

pub mod datasets;
pub mod mnist;

use dgg_core::config::Config;

/// The configuration a benchmark starts from for a data set (the package defaults, sized to it).
pub fn defaults_for(_dataset: &str) -> Config {
    Config::default()
}

fn command(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd).args(args).output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}

/// Adds machine, date and commit to `value`, writes it to benches/results/NAME.json atomically and
/// returns it.
pub fn write_result(name: &str, mut value: serde_json::Value) -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())).unwrap_or_default();
    let machine = format!("{} cores, {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), cpu);
    value["machine"] = serde_json::json!(machine);
    value["date"] = serde_json::json!(command("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]));
    value["commit"] = serde_json::json!(command("git", &["rev-parse", "--short", "HEAD"]));
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{name}.json"));
    let tmp = dir.join(format!(".{name}.json.tmp"));
    if std::fs::write(&tmp, format!("{value}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
    value
}
