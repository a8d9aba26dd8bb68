//! Choosing the graph's `k` neighbours from a longer kNN list. The public DGG code takes 20 at
//! random from the 100 nearest in the Siamese space, which spreads each point's links beyond its
//! tightest (often near-duplicate) neighbours.

use crate::error::{GraphError, Result};
use crate::knn::Neighbours;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// How [`select_neighbours`] picks `k` of the listed neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selection {
    /// The `k` nearest.
    #[default]
    Nearest,
    /// `k` drawn uniformly without replacement from the `m` nearest (`k <= m <= list length`).
    RandomOfTop { m: usize },
}

/// Keeps `k` neighbours per row; rows stay sorted by distance. Deterministic for a given `seed`.
pub fn select_neighbours(
    nb: &Neighbours,
    k: usize,
    sel: Selection,
    seed: u64,
) -> Result<Neighbours> {
    if k == 0 || k > nb.k {
        return Err(GraphError::invalid(
            "k",
            k,
            format!("must be in 1..={}", nb.k),
        ));
    }
    match sel {
        Selection::Nearest => nb.truncate(k),
        Selection::RandomOfTop { m } => {
            if m < k || m > nb.k {
                return Err(GraphError::invalid(
                    "m",
                    m,
                    format!("must be in k..=list length, i.e. {k}..={}", nb.k),
                ));
            }
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut indices = Vec::with_capacity(nb.n * k);
            let mut distances = Vec::with_capacity(nb.n * k);
            for i in 0..nb.n {
                let mut pick = rand::seq::index::sample(&mut rng, m, k).into_vec();
                // Sorting the positions keeps the row sorted by distance.
                pick.sort_unstable();
                indices.extend(pick.iter().map(|&p| nb.row(i)[p]));
                distances.extend(pick.iter().map(|&p| nb.row_distances(i)[p]));
            }
            Ok(Neighbours {
                n: nb.n,
                k,
                indices,
                distances,
            })
        }
    }
}
