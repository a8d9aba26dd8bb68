//! Neighbour selection: nearest k, and k at random from the m nearest.

use dgg_graph::{agreed_neighbours, select_neighbours, GraphError, Neighbours, Selection};

fn list(n: usize, k: usize) -> Neighbours {
    // Row i: ids i*k .. i*k+k-1 (fake), distances 0, 1, 2, ...
    Neighbours { n, k, indices: (0..(n * k) as u32).collect(), distances: (0..n).flat_map(|_| (0..k).map(|t| t as f32)).collect() }
}

#[test]
fn nearest_keeps_the_first_k() {
    let s = select_neighbours(&list(3, 10), 4, Selection::Nearest, 0).unwrap();
    assert_eq!(s.k, 4);
    assert_eq!(s.row(1), &[10, 11, 12, 13]);
    assert_eq!(s.row_distances(2), &[0.0, 1.0, 2.0, 3.0]);
}

#[test]
fn random_of_top_stays_within_top_m_sorted_and_seeded() {
    let nb = list(200, 100);
    let a = select_neighbours(&nb, 20, Selection::RandomOfTop { m: 50 }, 7).unwrap();
    let b = select_neighbours(&nb, 20, Selection::RandomOfTop { m: 50 }, 7).unwrap();
    let c = select_neighbours(&nb, 20, Selection::RandomOfTop { m: 50 }, 8).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    let mut beyond_20 = 0;
    for i in 0..200 {
        let d = a.row_distances(i);
        assert!(d.windows(2).all(|w| w[0] < w[1]), "row {i}: sorted, no repeats");
        assert!(d.iter().all(|&v| v < 50.0), "row {i} outside the top 50");
        beyond_20 += d.iter().filter(|&&v| v >= 20.0).count();
        for (&id, &dist) in a.row(i).iter().zip(d) {
            assert_eq!(id as usize, i * 100 + dist as usize, "ids follow their distances");
        }
    }
    // 30 of 50 positions lie beyond the first 20: expect about 60% of picks there.
    let frac = beyond_20 as f64 / 4000.0;
    assert!((0.5..0.7).contains(&frac), "{frac}");
}

#[test]
fn bad_sizes_are_errors() {
    let nb = list(2, 10);
    let e = select_neighbours(&nb, 11, Selection::Nearest, 0).unwrap_err();
    assert!(matches!(e, GraphError::InvalidParameter { field: "k", .. }));
    let e = select_neighbours(&nb, 5, Selection::RandomOfTop { m: 4 }, 0).unwrap_err();
    assert!(matches!(e, GraphError::InvalidParameter { field: "m", .. }), "{e}");
    assert!(select_neighbours(&nb, 5, Selection::RandomOfTop { m: 11 }, 0).is_err());
}

fn rows(k: usize, ids: &[&[u32]]) -> Neighbours {
    Neighbours {
        n: ids.len(),
        k,
        indices: ids.iter().flat_map(|r| r.iter().copied()).collect(),
        distances: ids.iter().flat_map(|_| (0..k).map(|t| t as f32)).collect(),
    }
}

#[test]
fn agreed_takes_confirmed_neighbours_in_order_and_fills_with_the_nearest() {
    let primary = rows(4, &[&[1, 2, 3, 4], &[0, 2, 3, 4], &[0, 1, 3, 4], &[0, 1, 2, 4], &[0, 1, 2, 3]]);
    let confirm = rows(
        3,
        &[
            &[4, 3, 2], // all confirmed: the first two in primary's order, 2 and 3
            &[4, 9, 9], // one confirmed (4), filled with the nearest other (0)
            &[9, 9, 9], // none confirmed: primary's two nearest
            &[4, 1, 9], // 1 and 4, kept in distance order
            &[0, 1, 2],
        ],
    );
    let a = agreed_neighbours(&primary, &confirm, 2).unwrap();
    assert_eq!(a.k, 2);
    assert_eq!(a.row(0), &[2, 3]);
    assert_eq!(a.row_distances(0), &[1.0, 2.0]);
    assert_eq!(a.row(1), &[0, 4]);
    assert_eq!(a.row_distances(1), &[0.0, 3.0]);
    assert_eq!(a.row(2), &[0, 1]);
    assert_eq!(a.row(3), &[1, 4]);
    assert_eq!(a.row(4), &[0, 1]);
    assert!(matches!(agreed_neighbours(&primary, &confirm, 5), Err(GraphError::InvalidParameter { .. })));
    assert!(agreed_neighbours(&primary, &rows(3, &[&[0, 0, 0]]), 2).is_err());
}
