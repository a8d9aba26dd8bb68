//! Graph files and `write_atomic` against the ways a save can be redirected or raced: a symlink
//! planted at a predictable temporary name, concurrent saves to one path, a FIFO or a directory at
//! the target, and a write that fails halfway.

mod common;

use common::temp_path;
use dgg_graph::graph_file::{read_regular, write_atomic};
use dgg_graph::{Graph, GraphError};
use std::io::Write;
use std::path::PathBuf;

/// A fresh folder for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = temp_path(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A ring graph on `n` points (each linked to both neighbours) whose weights depend on `seed`, so
/// graphs of different seeds differ.
fn ring(n: usize, seed: u32) -> Graph {
    let indices = (0..n).flat_map(|i| [((i + 1) % n) as u32, ((i + n - 1) % n) as u32]).collect();
    let weights = (0..n).flat_map(|i| {
        let a = ((i as u32 + seed) % 7 + 1) as f32 / 8.0;
        [a, 1.0 - a]
    });
    Graph::from_parts(n, 2, indices, weights.collect()).unwrap()
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[cfg(unix)]
#[test]
fn a_symlink_planted_at_a_predictable_name_is_not_followed() {
    let dir = temp_dir("safety-symlink");
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    // The name the old writer used for its temporary file.
    std::os::unix::fs::symlink(&victim, dir.join(format!(".g.dggg.tmp-{}", std::process::id()))).unwrap();
    let g = ring(50, 1);
    g.save(dir.join("g.dggg")).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert_eq!(Graph::load(dir.join("g.dggg")).unwrap(), g);
    // A symlink at the target is replaced by the new file, never written through.
    let link = dir.join("link.dggg");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    g.save(&link).unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_file());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_saves_to_one_path_all_succeed_and_leave_one_whole_graph() {
    let dir = temp_dir("safety-concurrent");
    let path = dir.join("g.dggg");
    let graphs: Vec<Graph> = (0..8).map(|s| ring(20_000, s)).collect();
    for round in 0..6 {
        let barrier = std::sync::Barrier::new(graphs.len());
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = graphs
                .iter()
                .map(|g| {
                    let (barrier, path) = (&barrier, &path);
                    s.spawn(move || {
                        barrier.wait();
                        g.save(path)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in results {
            r.unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        let back = Graph::load(&path).unwrap();
        assert!(graphs.contains(&back), "round {round}: the file is none of the saved graphs");
        assert_eq!(names(&dir), ["g.dggg"], "round {round}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_fifo_or_a_directory_at_the_target_is_refused_and_left_alone() {
    use std::os::unix::fs::FileTypeExt;
    let dir = temp_dir("safety-fifo");
    let fifo = dir.join("pipe.dggg");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let e = ring(10, 0).save(&fifo).unwrap_err();
    assert!(matches!(e, GraphError::Io { .. }), "{e}");
    assert!(e.to_string().contains("pipe.dggg") && e.to_string().contains("a FIFO, not a regular file"), "{e}");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    // Reading one is refused too, rather than blocking until a writer comes.
    let e = Graph::load(&fifo).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let e = ring(10, 0).save(&sub).unwrap_err();
    assert!(e.to_string().contains("a directory"), "{e}");
    assert!(sub.is_dir());
    assert_eq!(names(&dir), ["pipe.dggg", "sub"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_write_leaves_the_old_file_and_no_temporary_file() {
    let dir = temp_dir("safety-failed");
    let path = dir.join("out.bin");
    // Something squatting on the old writer's predictable temporary name does not block saving.
    let squatter = dir.join(format!(".out.bin.tmp-{}", std::process::id()));
    std::fs::create_dir(&squatter).unwrap();
    write_atomic(&path, |f| f.write_all(b"old")).unwrap();
    std::fs::remove_dir(&squatter).unwrap();
    let e = write_atomic(&path, |f| {
        f.write_all(b"half")?;
        Err(std::io::Error::other("disk full"))
    })
    .unwrap_err();
    assert_eq!(e.to_string(), "disk full");
    assert_eq!(read_regular(&path).unwrap(), b"old");
    assert_eq!(names(&dir), ["out.bin"]);
    // Into a missing folder: an error naming the folder, nothing created.
    let e = write_atomic(&dir.join("missing/out.bin"), |f| f.write_all(b"x")).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(
        e.to_string(),
        format!("finding its folder failed: the folder '{}' does not exist (or was removed during the save)", dir.join("missing").display())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_save_racing_the_removal_of_its_folder_says_so() {
    // Each round: two saves to one path while another thread removes the folder. Whichever step a
    // save is at when the folder goes (resolving it, creating the temporary file, renaming), the
    // error names the folder and what happened, never a bare "No such file or directory".
    let base = temp_dir("safety-removed");
    let mut failures = 0;
    for round in 0..60 {
        let dir = base.join(format!("d{round}"));
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("out.bin");
        let results: Vec<std::io::Result<()>> = std::thread::scope(|s| {
            let saves: Vec<_> = (0..2).map(|_| s.spawn(|| write_atomic(&path, |f| f.write_all(&[7u8; 4096])))).collect();
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_micros(50 * (round % 8)));
                let _ = std::fs::remove_dir_all(&dir);
            });
            saves.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for e in results.into_iter().filter_map(|r| r.err()) {
            failures += 1;
            let msg = e.to_string();
            assert!(msg.contains(&format!("the folder '{}' does not exist (or was removed during the save)", dir.display())), "{msg}");
            assert!(msg.ends_with("during the save)"), "{msg}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(failures > 0, "no save lost the race in 60 rounds");
    std::fs::remove_dir_all(&base).unwrap();
}
