//! Test data: clustered unit vectors, a stand-in for text embeddings.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `n` unit vectors of dimension `dim` drawn around `centres` random centres.
pub fn clustered(n: usize, dim: usize, centres: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let cs: Vec<Vec<f32>> = (0..centres).map(|_| unit((0..dim).map(|_| rng.random::<f32>() - 0.5).collect())).collect();
    (0..n)
        .map(|_| {
            let c = &cs[rng.random_range(0..centres)];
            unit(c.iter().map(|x| x + 0.35 * (rng.random::<f32>() - 0.5)).collect())
        })
        .collect()
}

/// `v` scaled to unit length.
pub fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// Payload for point `i`: a city drawn from 10 and a role drawn from 4.
pub fn payload(i: usize) -> Vec<(String, String)> {
    vec![("city".into(), format!("city{}", i % 10)), ("role".into(), format!("role{}", i % 4))]
}
