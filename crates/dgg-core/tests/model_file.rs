//! Model and checkpoint files against hostile input: huge declared shapes, corrupted bytes,
//! well-formed but wrong metadata and tensors, and the places a save can be redirected or raced
//! (a planted symlink, concurrent saves, a FIFO, a shared checkpoint folder). Every failure is an
//! error with a code, naming the file; nothing aborts, allocates what the file does not hold, or
//! loads silently.

use candle_core::{DType, Device};
use dgg_core::checkpoint::Checkpoints;
use dgg_core::config::{ClassifierKind, Config, Likelihood};
use dgg_core::data::Scaler;
use dgg_core::model::{checksum, expected_parameters, Model, CHECKSUM_KEY, MAX_PARAMETERS};
use dgg_core::nn::{Networks, Shape};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const D: usize = 5;

/// A fresh folder for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dgg-model-file-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn shape(classifier_hidden: Vec<usize>) -> Shape {
    Shape { input_dim: D, hidden: vec![8, 6], latent_dim: 2, n_clusters: 3, classifier_hidden }
}

/// An untrained model with seeded random weights: as good as a fitted one for file tests.
fn model(seed: u64, scaler: Scaler) -> Model {
    let config = Config { n_clusters: 3, latent_dim: 2, hidden: vec![8, 6], classifier: ClassifierKind::Linear, ..Config::default() };
    let shape = shape(vec![]);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nets = Networks::new(&shape, &mut rng, DType::F32, &Device::Cpu).unwrap();
    // Mixture means away from zero, so that models of different seeds differ in every tensor.
    nets.set("gmm.means", &candle_core::Tensor::full(seed as f32 + 1.0, (3, 2), &Device::Cpu).unwrap()).unwrap();
    Model { config, shape, scaler, likelihood: Likelihood::Gaussian, nets, device: Device::Cpu }
}

fn standardize() -> Scaler {
    Scaler::Standardize { mean: vec![0.1; D], std: vec![0.5; D] }
}

/// 7 rows of input.
fn rows() -> Vec<f32> {
    (0..7 * D).map(|i| ((i * 37) % 11) as f32 / 10.0 - 0.3).collect()
}

fn metadata(bytes: &[u8]) -> HashMap<String, String> {
    SafeTensors::read_metadata(bytes).unwrap().1.metadata().clone().unwrap()
}

type Tensors = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;

/// Rewrites a model file: `edit` changes its metadata and tensors. `seal` recomputes the checksum
/// as a writer who knows the format would; otherwise the file has none, like one saved before
/// checksums existed.
fn rewrite(bytes: &[u8], seal: bool, edit: impl FnOnce(&mut HashMap<String, String>, &mut Tensors)) -> Vec<u8> {
    let mut meta = metadata(bytes);
    let mut tensors: Tensors =
        SafeTensors::deserialize(bytes).unwrap().tensors().into_iter().map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec())).collect();
    edit(&mut meta, &mut tensors);
    meta.remove(CHECKSUM_KEY);
    let views: Vec<(String, TensorView)> = tensors.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    if seal {
        meta.insert(CHECKSUM_KEY.into(), checksum(&meta, &views));
    }
    safetensors::serialize(views, Some(meta)).unwrap()
}

/// Edits one metadata entry as JSON.
fn edit_json(meta: &mut HashMap<String, String>, key: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_str(&meta[key]).unwrap();
    edit(&mut v);
    meta.insert(key.into(), v.to_string());
}

/// Writes `bytes` to `dir/name`, loads it, and returns the error's message, checking that it is a
/// MODEL_FORMAT error naming the file.
fn refused(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let e = Model::load(&path, &Device::Cpu).err().unwrap_or_else(|| panic!("{name} loaded"));
    let msg = e.to_string();
    assert_eq!(e.code(), "MODEL_FORMAT", "{name}: {msg}");
    assert!(msg.contains(path.to_str().unwrap()), "{name}: {msg}");
    msg
}

#[test]
fn a_saved_model_carries_a_checksum_and_an_old_file_without_one_still_loads() {
    let dir = temp_dir("checksum");
    let m = model(1, standardize());
    let path = dir.join("m.dgg");
    m.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(metadata(&bytes)[CHECKSUM_KEY].starts_with("sha256:"), "{:?}", metadata(&bytes).get(CHECKSUM_KEY));
    let expected = m.predict_proba(&rows(), 7, D).unwrap();
    assert_eq!(Model::load(&path, &Device::Cpu).unwrap().predict_proba(&rows(), 7, D).unwrap(), expected);
    // As saved before checksums existed: no checksum key, everything else the same.
    let old = dir.join("old.dgg");
    std::fs::write(&old, rewrite(&bytes, false, |_, _| {})).unwrap();
    assert!(!metadata(&std::fs::read(&old).unwrap()).contains_key(CHECKSUM_KEY));
    assert_eq!(Model::load(&old, &Device::Cpu).unwrap().predict_proba(&rows(), 7, D).unwrap(), expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_same_model_always_gives_the_same_bytes_and_they_round_trip() {
    // safetensors writes its metadata from a HashMap, in an order that changes from call to call;
    // the header is written sorted, so toBuffer() equals the saved file byte for byte.
    let dir = temp_dir("bytes");
    let m = model(4, standardize());
    let path = dir.join("m.dgg");
    m.save(&path).unwrap();
    let first = m.to_bytes().unwrap();
    for _ in 0..5 {
        assert_eq!(m.to_bytes().unwrap(), first);
    }
    assert_eq!(std::fs::read(&path).unwrap(), first);
    let header = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
    assert_eq!(header % 8, 0, "the data starts 8-byte aligned");
    let back = Model::from_bytes(&first, &Device::Cpu, "buffer").unwrap();
    assert_eq!(back.predict_proba(&rows(), 7, D).unwrap(), m.predict_proba(&rows(), 7, D).unwrap());
    assert_eq!(back.to_bytes().unwrap(), first);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_single_bit_flip_in_the_tensor_data_is_refused() {
    let dir = temp_dir("bitflip");
    let bytes = model(2, standardize()).to_bytes().unwrap();
    let data_start = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let span = bytes.len() - data_start;
    for i in 0..100 {
        let mut b = bytes.clone();
        b[data_start + i * span / 100] ^= 1 << (i % 8);
        let msg = refused(&dir, "flipped.dgg", &b);
        assert!(msg.contains("checksum mismatch"), "flip {i}: {msg}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

#[test]
fn huge_declared_shapes_are_refused_before_anything_is_allocated() {
    let dir = temp_dir("huge");
    let bytes = model(3, Scaler::None).to_bytes().unwrap();
    let too_many = format!("more than {MAX_PARAMETERS} parameters");
    type Edit = Box<dyn Fn(&mut HashMap<String, String>)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("input_dim", Box::new(|m| edit_json(m, "shape", |s| s["input_dim"] = 1_000_000_000u64.into())), &too_many),
        (
            "n_clusters",
            Box::new(|m| {
                edit_json(m, "shape", |s| s["n_clusters"] = (1u64 << 40).into());
                edit_json(m, "config", |c| c["n_clusters"] = (1u64 << 40).into());
            }),
            "nClusters",
        ),
        (
            "classifier_hidden",
            Box::new(|m| {
                edit_json(m, "shape", |s| s["classifier_hidden"] = serde_json::json!([1_000_000, 1_000_000]));
                edit_json(m, "config", |c| c["classifier"] = "mlp".into());
            }),
            "shape.classifier_hidden[0]",
        ),
        (
            "hidden",
            Box::new(|m| {
                edit_json(m, "shape", |s| s["hidden"] = serde_json::json!([65536, 65536, 65536]));
                edit_json(m, "config", |c| c["hidden"] = serde_json::json!([65536, 65536, 65536]));
            }),
            &too_many,
        ),
        ("latent_dim", Box::new(|m| edit_json(m, "shape", |s| s["latent_dim"] = 1_000_000.into())), "shape.latent_dim"),
    ];
    for (name, edit, expect) in &cases {
        // Sealed (a deliberate file) and unsealed (an old-format one): refused either way.
        for seal in [true, false] {
            let msg = refused(&dir, &format!("{name}.dgg"), &rewrite(&bytes, seal, |m, _| edit(m)));
            assert!(msg.contains(expect), "{name}: {msg}");
        }
    }
    if let Some(peak) = peak_rss() {
        assert!(peak < 1 << 30, "peak RSS {peak} bytes");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hostile_metadata_is_refused_naming_the_field() {
    let dir = temp_dir("metadata");
    let bytes = model(4, standardize()).to_bytes().unwrap();
    let scaler = |edit: fn(&mut serde_json::Value)| rewrite(&bytes, true, |m, _| edit_json(m, "scaler", edit));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("std-zero", scaler(|s| s["std"][2] = 0.0.into()), "scaler.std[2]"),
        ("std-negative", scaler(|s| s["std"][0] = (-1.0).into()), "scaler.std[0]"),
        ("std-overflow", scaler(|s| s["std"][1] = serde_json::from_str("1e39").unwrap()), "scaler"),
        ("mean-short", scaler(|s| s["mean"].as_array_mut().unwrap().truncate(3)), "scaler.mean"),
        ("std-short", scaler(|s| s["std"].as_array_mut().unwrap().truncate(3)), "scaler.std"),
        ("max-zero", scaler(|s| *s = serde_json::json!({"kind": "max", "max": 0.0})), "scaler.max"),
        (
            "latent-zero",
            rewrite(&bytes, true, |m, _| {
                edit_json(m, "config", |c| c["latent_dim"] = 0.into());
                edit_json(m, "shape", |s| s["latent_dim"] = 0.into());
            }),
            "latentDim",
        ),
        (
            "one-cluster",
            rewrite(&bytes, true, |m, _| {
                edit_json(m, "config", |c| c["n_clusters"] = 1.into());
                edit_json(m, "shape", |s| s["n_clusters"] = 1.into());
            }),
            "nClusters",
        ),
        ("shape-disagrees", rewrite(&bytes, true, |m, _| edit_json(m, "shape", |s| s["hidden"] = serde_json::json!([8, 7]))), "shape.hidden"),
        ("input-zero", rewrite(&bytes, true, |m, _| edit_json(m, "shape", |s| s["input_dim"] = 0.into())), "shape.input_dim"),
        (
            "linear-with-hidden",
            rewrite(&bytes, true, |m, _| edit_json(m, "shape", |s| s["classifier_hidden"] = serde_json::json!([4]))),
            "shape.classifier_hidden",
        ),
    ];
    for (name, b, expect) in &cases {
        let msg = refused(&dir, &format!("{name}.dgg"), b);
        assert!(msg.contains(expect), "{name}: {msg}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tensor<'a>(t: &'a mut Tensors, name: &str) -> &'a mut (String, Dtype, Vec<usize>, Vec<u8>) {
    t.iter_mut().find(|x| x.0 == name).unwrap()
}

/// Swaps the byte ranges of two tensors in the header, leaving the data and the checksum alone.
fn swap_offsets(bytes: &[u8], a: &str, b: &str) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let oa = header[a]["data_offsets"].clone();
    header[a]["data_offsets"] = header[b]["data_offsets"].clone();
    header[b]["data_offsets"] = oa;
    let json = header.to_string();
    [&(json.len() as u64).to_le_bytes()[..], json.as_bytes(), &bytes[8 + n..]].concat()
}

#[test]
fn hostile_tensors_are_refused_naming_the_parameter() {
    let dir = temp_dir("tensors");
    let bytes = model(5, standardize()).to_bytes().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "infinite-bias",
            rewrite(&bytes, true, |_, t| tensor(t, "classifier.l0.bias").3[4..8].copy_from_slice(&f32::INFINITY.to_le_bytes())),
            "parameter 'classifier.l0.bias' holds a non-finite value (inf) at index 1",
        ),
        ("nan-weight", rewrite(&bytes, true, |_, t| tensor(t, "encoder.l0.weight").3[..4].copy_from_slice(&f32::NAN.to_le_bytes())), "encoder.l0.weight"),
        ("dtype", rewrite(&bytes, true, |_, t| tensor(t, "encoder.l1.weight").1 = Dtype::I32), "parameter 'encoder.l1.weight' has dtype I32"),
        ("missing", rewrite(&bytes, true, |_, t| t.retain(|x| x.0 != "gmm.means")), "parameter 'gmm.means' is missing"),
        ("extra", rewrite(&bytes, true, |_, t| t.push(("extra".into(), Dtype::F32, vec![1], vec![0; 4]))), "unexpected parameter 'extra'"),
        (
            "reshaped",
            rewrite(&bytes, true, |_, t| {
                let x = tensor(t, "encoder.l0.weight");
                x.2 = vec![x.2[1], x.2[0]];
            }),
            "parameter 'encoder.l0.weight' has shape [5, 8], expected [8, 5]",
        ),
        // Two tensors of one size trade places: only the checksum can tell.
        ("swapped", swap_offsets(&bytes, "encoder.mu.bias", "encoder.logvar.bias"), "checksum mismatch"),
        // Offsets that leave a gap: the safetensors header check.
        (
            "gap",
            {
                let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
                let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
                let end = header["gmm.means"]["data_offsets"][1].as_u64().unwrap();
                header["gmm.means"]["data_offsets"][1] = (end - 4).into();
                let json = header.to_string();
                [&(json.len() as u64).to_le_bytes()[..], json.as_bytes(), &bytes[8 + n..]].concat()
            },
            "unreadable safetensors header",
        ),
    ];
    for (name, b, expect) in &cases {
        let msg = refused(&dir, &format!("{name}.dgg"), b);
        assert!(msg.contains(expect), "{name}: {msg}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_output_that_overflows_is_an_error_not_label_0() {
    // Finite weights so large that finite input overflows: a NaN must not become cluster 0.
    let bytes = model(6, Scaler::None).to_bytes().unwrap();
    // Every encoder weight 3e38 overflows the embedding to +inf; the classifier's mixed signs then
    // give inf - inf = NaN.
    let huge = rewrite(&bytes, true, |_, t| {
        for (name, _, _, data) in t.iter_mut() {
            let mixed = name.starts_with("classifier.");
            if mixed || name.starts_with("encoder.") {
                let n = data.len() / 4;
                *data = (0..n).flat_map(|i| (if mixed && i % 2 == 1 { -3e38f32 } else { 3e38 }).to_le_bytes()).collect();
            }
        }
    });
    let m = Model::from_bytes(&huge, &Device::Cpu, "huge.dgg").unwrap();
    let x = vec![100.0f32; 7 * D];
    let e = m.predict(&x, 7, D).unwrap_err();
    assert_eq!(e.code(), "INVALID_DATA", "{e}");
    assert!(e.to_string().contains("not finite"), "{e}");
    assert_eq!(m.transform(&x, 7, D).unwrap_err().code(), "INVALID_DATA");
}

#[test]
fn the_expected_parameters_are_the_ones_the_networks_create() {
    for classifier_hidden in [vec![], vec![64], vec![7, 5]] {
        let shape = shape(classifier_hidden);
        let nets = Networks::new(&shape, &mut ChaCha8Rng::seed_from_u64(0), DType::F32, &Device::Cpu).unwrap();
        let mut created: Vec<(String, Vec<usize>)> =
            nets.varmap.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.as_tensor().dims().to_vec())).collect();
        created.sort();
        let mut expected = expected_parameters(&shape);
        expected.sort();
        assert_eq!(expected, created);
    }
}

#[test]
fn a_symlink_planted_at_a_predictable_name_is_not_followed() {
    let dir = temp_dir("symlink");
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    // The name the old writer used for its temporary file.
    let path = dir.join("m.dgg");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&victim, dir.join(format!(".m.dgg.tmp-{}", std::process::id()))).unwrap();
    let m = model(7, Scaler::None);
    m.save(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert_eq!(Model::load(&path, &Device::Cpu).unwrap().predict(&rows(), 7, D).unwrap(), m.predict(&rows(), 7, D).unwrap());
    // A symlink at the target itself is replaced by the new file; what it pointed to is untouched.
    #[cfg(unix)]
    {
        let link = dir.join("link.dgg");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        m.save(&link).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_file());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_saves_to_one_path_all_succeed_and_leave_one_whole_model() {
    let dir = temp_dir("concurrent");
    let path = dir.join("m.dgg");
    let models: Vec<Model> = (0..8).map(|s| model(10 + s, Scaler::None)).collect();
    let answers: Vec<Vec<f32>> = models.iter().map(|m| m.predict_proba(&rows(), 7, D).unwrap()).collect();
    for round in 0..6 {
        let barrier = std::sync::Barrier::new(models.len());
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = models
                .iter()
                .map(|m| {
                    let (barrier, path) = (&barrier, &path);
                    s.spawn(move || {
                        barrier.wait();
                        m.save(path)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in results {
            r.unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        let back = Model::load(&path, &Device::Cpu).unwrap().predict_proba(&rows(), 7, D).unwrap();
        assert!(answers.contains(&back), "round {round}: the file is none of the saved models");
        let names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, ["m.dgg"], "round {round}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn saving_onto_a_fifo_is_refused_and_loading_one_does_not_block() {
    use std::os::unix::fs::FileTypeExt;
    let dir = temp_dir("fifo");
    let fifo = dir.join("pipe.dgg");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let e = model(8, Scaler::None).save(&fifo).unwrap_err();
    assert_eq!(e.code(), "IO_ERROR", "{e}");
    assert!(e.to_string().contains("pipe.dgg") && e.to_string().contains("a FIFO, not a regular file"), "{e}");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    let e = Model::load(&fifo, &Device::Cpu).err().unwrap();
    assert_eq!(e.code(), "IO_ERROR", "{e}");
    // A directory is refused the same way.
    let e = model(8, Scaler::None).save(&dir).unwrap_err();
    assert!(e.to_string().contains("a directory"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_temporary_file_left_by_a_killed_save_is_removed_by_the_next() {
    let dir = temp_dir("stale");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600);
    let stale = [dir.join(".m.dgg.AbCd1234.tmp"), dir.join(".m.dgg.tmp-4242")];
    for p in &stale {
        std::fs::File::create(p).unwrap().set_modified(old).unwrap();
    }
    // A save in progress elsewhere (recent), and another file's temporary file: both kept.
    let kept = [dir.join(".m.dgg.Zz9yXw8v.tmp"), dir.join(".other.dgg.AbCd1234.tmp")];
    std::fs::File::create(&kept[0]).unwrap();
    std::fs::File::create(&kept[1]).unwrap().set_modified(old).unwrap();
    model(9, Scaler::None).save(&dir.join("m.dgg")).unwrap();
    for p in &stale {
        assert!(!p.exists(), "{} is still there", p.display());
    }
    for p in &kept {
        assert!(p.exists(), "{} was removed", p.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_folder_serves_one_fit_at_a_time() {
    let dir = temp_dir("ckpt-lock");
    let data = rows();
    let cfg = Config::default();
    let first = Checkpoints::open(&dir, &data, 7, D, &cfg, None).unwrap();
    let e = Checkpoints::open(&dir, &data, 7, D, &cfg, None).err().expect("a second user of the folder");
    assert_eq!(e.code(), "IO_ERROR", "{e}");
    assert!(e.to_string().contains("in use by another fit"), "{e}");
    // From another thread as well (another fit in the same Node process).
    let e = std::thread::scope(|s| s.spawn(|| Checkpoints::open(&dir, &data, 7, D, &cfg, None).err()).join().unwrap());
    assert!(e.is_some());
    drop(first);
    // Released, and the lock file gone with it.
    let again = Checkpoints::open(&dir, &data, 7, D, &cfg, None).unwrap();
    drop(again);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupted_checkpoint_stage_is_refused() {
    let dir = temp_dir("ckpt-flip");
    let data = rows();
    let cfg = Config { n_clusters: 3, latent_dim: 2, hidden: vec![8, 6], ..Config::default() };
    let nets = Networks::new(&shape(vec![]), &mut ChaCha8Rng::seed_from_u64(1), DType::F32, &Device::Cpu).unwrap();
    let rng = ChaCha8Rng::seed_from_u64(2);
    let ckpt = Checkpoints::open(&dir, &data, 7, D, &cfg, None).unwrap();
    ckpt.save_stage("pretrained", &nets, &rng, &[]).unwrap();
    let file = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).find(|p| p.to_string_lossy().contains("pretrained-")).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    std::fs::write(&file, &bytes).unwrap();
    let (mut rng2, mut history) = (ChaCha8Rng::seed_from_u64(0), Vec::new());
    let e = ckpt.load_stage("pretrained", &nets, &mut rng2, &mut history).unwrap_err();
    assert_eq!(e.code(), "MODEL_FORMAT", "{e}");
    assert!(e.to_string().contains("checksum mismatch") && e.to_string().contains("pretrained-"), "{e}");
    drop(ckpt);
    std::fs::remove_dir_all(&dir).unwrap();
}
