//! Near-duplicate detection: MinHash signatures over word 5-grams, cut into bands for
//! locality-sensitive hashing, as datatrove's MinHash deduplication does (5-grams, 14 bands of
//! 8 rows, 112 hashes).
//!
//! Two documents with Jaccard similarity `s` between their 5-gram sets share at least one band,
//! and so land in the same cluster, with probability `1 − (1 − s⁸)¹⁴`: 0.05 at s = 0.5, 0.21 at
//! 0.6, 0.5 at 0.685, 0.65 at 0.72, 0.92 at 0.8, 0.999 at 0.9. Clusters are the connected
//! components of "shares a band" (no pairwise verification, like datatrove).

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

pub const SHINGLE_WORDS: usize = 5;
pub const BANDS: usize = 14;
pub const ROWS_PER_BAND: usize = 8;
const HASHES: usize = BANDS * ROWS_PER_BAND;

/// The multiply-shift hash family: 112 (odd multiplier, addend) pairs from splitmix64, seed 42.
fn family() -> &'static [(u64, u64); HASHES] {
    static FAMILY: std::sync::OnceLock<[(u64, u64); HASHES]> = std::sync::OnceLock::new();
    FAMILY.get_or_init(|| {
        let mut state: u64 = 42;
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        std::array::from_fn(|_| (next() | 1, next()))
    })
}

/// The LSH band keys of `text`'s MinHash signature (whitespace-separated words).
pub fn band_keys(text: &str) -> Vec<u64> {
    let words: Vec<u64> = text.split_whitespace().map(|w| xxh3_64(w.as_bytes())).collect();
    let shingle = |window: &[u64]| {
        window
            .iter()
            .fold(0x51_7cc1_b727_220a_u64, |acc, w| (acc.rotate_left(23) ^ w).wrapping_mul(0x2545_f491_4f6c_dd1d))
    };
    let mut shingles: Vec<u64> = if words.len() < SHINGLE_WORDS {
        vec![shingle(&words)]
    } else {
        words.windows(SHINGLE_WORDS).map(shingle).collect()
    };
    // The signature is a minimum over the set of shingles: a repeated one changes nothing.
    shingles.sort_unstable();
    shingles.dedup();
    // A band at a time: its eight minima stay in registers while the shingles stream past
    // (twice as fast as updating all 112 for each shingle).
    family()
        .chunks_exact(ROWS_PER_BAND)
        .enumerate()
        .map(|(band, rows)| {
            let a: [u64; ROWS_PER_BAND] = std::array::from_fn(|k| rows[k].0);
            let b: [u64; ROWS_PER_BAND] = std::array::from_fn(|k| rows[k].1);
            let mut minima = [u32::MAX; ROWS_PER_BAND];
            for &h in &shingles {
                for k in 0..ROWS_PER_BAND {
                    minima[k] = minima[k].min(permuted(a[k], b[k], h));
                }
            }
            let bytes: Vec<u8> = minima.iter().flat_map(|m| m.to_le_bytes()).collect();
            xxh3_64_with_seed(&bytes, band as u64)
        })
        .collect()
}

/// Shingle `h` under the hash `(a, b)` of the family: the high half of `a·h + b` (mod 2⁶⁴).
fn permuted(a: u64, b: u64, h: u64) -> u32 {
    (a.wrapping_mul(h).wrapping_add(b) >> 32) as u32
}

/// The root of `i`'s set in a union-find forest, halving paths on the way.
fn root(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// The connected components of documents sharing a band or a group: for each document, the
/// index of its component's root. `bands[i]` is document i's keys (empty for documents left
/// out); `groups[i]` its group's key, if it has one (a group is one component whatever its
/// members' texts).
pub fn components(bands: &[Vec<u64>], groups: &[Option<u128>]) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..bands.len()).collect();
    let mut unite = |mut keyed: Vec<(u128, usize)>| {
        keyed.sort_unstable();
        for pair in keyed.windows(2) {
            if pair[0].0 == pair[1].0 {
                let (a, b) = (root(&mut parent, pair[0].1), root(&mut parent, pair[1].1));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
    };
    for band in 0..BANDS {
        unite(bands.iter().enumerate().filter_map(|(i, keys)| keys.get(band).map(|&k| (u128::from(k), i))).collect());
    }
    unite(groups.iter().enumerate().filter_map(|(i, group)| group.map(|g| (g, i))).collect());
    (0..bands.len()).map(|i| root(&mut parent, i)).collect()
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn probability(s: f64) -> f64 {
        1.0 - (1.0 - s.powf(ROWS_PER_BAND as f64)).powf(BANDS as f64)
    }

    #[test]
    fn band_keys_are_those_of_standardize_2() {
        // Pinned from the slot-at-a-time loop this replaced: curated records keep their keys.
        let text = "FROM python:3.12-slim\nRUN pip install flask gunicorn requests\nCOPY . /app\nCMD [\"gunicorn\", \"app:app\"]\n";
        let keys: [u64; BANDS] = [
            1_153_031_010_239_052_080,
            8_110_491_672_697_054_548,
            2_745_115_338_205_841_628,
            16_467_556_089_588_788_347,
            10_385_122_734_072_028_315,
            406_755_496_072_918_411,
            1_285_415_357_746_414_334,
            13_528_332_618_903_055_112,
            1_061_813_417_063_250_844,
            16_681_326_065_939_654_839,
            12_993_362_387_619_156_107,
            10_006_811_107_822_972_427,
            2_330_650_561_911_314_616,
            11_529_473_747_980_854_785,
        ];
        assert_eq!(band_keys(text), keys);
    }

    #[test]
    fn the_documented_curve() {
        for (s, p) in [(0.5, 0.05), (0.6, 0.21), (0.685, 0.5), (0.72, 0.65), (0.8, 0.92), (0.9, 0.999)] {
            assert!((probability(s) - p).abs() < 0.01, "s={s}: {}", probability(s));
        }
    }

    #[test]
    fn near_duplicates_share_a_band_and_different_files_do_not() {
        let base = (0..200).fold(String::new(), |mut s, i| {
            let _ = writeln!(s, "RUN step-{i} --flag value-{i}");
            s
        });
        let edited = base.replacen("step-100", "step-one-hundred", 1);
        let other = (0..200).fold(String::new(), |mut s, i| {
            let _ = writeln!(s, "COPY src-{i} /dst/{i}");
            s
        });
        let keys = [band_keys(&base), band_keys(&edited), band_keys(&other)];
        assert!(keys[0].iter().zip(&keys[1]).any(|(a, b)| a == b));
        assert!(keys[0].iter().zip(&keys[2]).all(|(a, b)| a != b));
        let roots = components(&keys, &vec![None; keys.len()]);
        assert_eq!(roots, vec![0, 0, 2]);
        assert_eq!(band_keys("FROM a"), band_keys("FROM   a"), "whitespace-insensitive");
        assert_eq!(components(&keys, &[None, Some(7), Some(7)]), vec![0, 0, 0], "a group joins its members");
        assert_eq!(components(&[vec![], vec![]], &[Some(1), Some(1)]), vec![0, 0], "with or without bands");
    }
}
