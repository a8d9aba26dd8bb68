//! Graph files: round trips, atomic replacement, and clear errors for missing, foreign, truncated,
//! other-version and corrupted files.

mod common;

use common::temp_path;
use dgg_graph::{Graph, GraphError};

fn sample() -> Graph {
    Graph::from_parts(4, 2, vec![1, 2, 0, 3, 3, 1, 2, 0], vec![0.25, 0.75, 0.5, 0.5, 0.9, 0.1, 1.0, 0.0]).unwrap()
}

fn format_reason(e: GraphError) -> String {
    match e {
        GraphError::Format { reason, .. } => reason,
        other => panic!("expected a format error, got {other}"),
    }
}

#[test]
fn bytes_and_file_round_trip() {
    let g = sample();
    let b = g.to_bytes();
    assert_eq!(&b[..8], b"DGGGRAPH");
    assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 1);
    assert_eq!(b.len(), 28 + 8 * 8 + 8);
    assert_eq!(Graph::from_bytes(&b).unwrap(), g);

    let p = temp_path("round.dggg");
    g.save(&p).unwrap();
    assert_eq!(Graph::load(&p).unwrap(), g);
    // Overwrites in place and leaves no temporary file behind.
    let g2 = Graph::from_parts(2, 1, vec![1, 0], vec![1.0, 1.0]).unwrap();
    g2.save(&p).unwrap();
    assert_eq!(Graph::load(&p).unwrap(), g2);
    let leftovers: Vec<_> =
        std::fs::read_dir(p.parent().unwrap()).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().contains(".tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn missing_file_is_io_error_with_path() {
    let p = temp_path("does-not-exist.dggg");
    let e = Graph::load(&p).unwrap_err();
    assert!(matches!(e, GraphError::Io { .. }), "{e}");
    assert!(e.to_string().contains("does-not-exist.dggg"), "{e}");
    // Saving into a missing directory fails the same way.
    let e = sample().save(p.join("sub/x.dggg")).unwrap_err();
    assert!(matches!(e, GraphError::Io { .. }), "{e}");
}

#[test]
fn foreign_file_is_rejected_by_magic() {
    let p = temp_path("foreign.dggg");
    std::fs::write(&p, b"{\"not\": \"a graph\"}").unwrap();
    let e = Graph::load(&p).unwrap_err();
    assert!(e.to_string().contains("foreign.dggg"), "{e}");
    assert!(format_reason(e).contains("magic"));
    assert!(format_reason(Graph::from_bytes(b"DGG").unwrap_err()).contains("magic"));
}

#[test]
fn other_version_is_rejected() {
    let mut b = sample().to_bytes();
    b[8..12].copy_from_slice(&2u32.to_le_bytes());
    let r = format_reason(Graph::from_bytes(&b).unwrap_err());
    assert!(r.contains("version 2"), "{r}");
}

#[test]
fn truncated_and_padded_files_are_rejected() {
    let b = sample().to_bytes();
    for cut in [12, 30, b.len() - 1] {
        let r = format_reason(Graph::from_bytes(&b[..cut]).unwrap_err());
        assert!(r.contains("truncated"), "cut {cut}: {r}");
    }
    let mut longer = b.clone();
    longer.push(0);
    assert!(format_reason(Graph::from_bytes(&longer).unwrap_err()).contains("trailing"));
    // A huge n in the header must not allocate or overflow.
    let mut huge = b.clone();
    huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(Graph::from_bytes(&huge).is_err());
}

#[test]
fn corruption_is_caught_by_the_checksum() {
    let b = sample().to_bytes();
    for pos in [30, 28 + 32 + 1, b.len() - 3] {
        let mut c = b.clone();
        c[pos] ^= 0x10;
        let r = format_reason(Graph::from_bytes(&c).unwrap_err());
        assert!(r.contains("checksum"), "byte {pos}: {r}");
    }
}
