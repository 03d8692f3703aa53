//! Property test: random upsert/delete batches against a HashMap model.

use std::collections::HashMap;

use proptest::prelude::*;
use sinks::{CollectionConfig, PointUpdate, SearchRequest, VectorCollection};

fn vector(seed: u8) -> Vec<f32> {
    let mut v: Vec<f32> = (0..8).map(|i| ((seed as f32 + 1.0) * (i as f32 + 1.3)).sin()).collect();
    v[0] += 2.0; // never zero
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn collection_matches_hashmap_model(batches in proptest::collection::vec(
        proptest::collection::vec((0u8..40, proptest::option::of(0u8..255)), 1..20), 1..25),
        // Writes merged by the indexer at once, or left in the overlay until merged by hand
        // every `merge_every` batches.
        merge_now in any::<bool>(), merge_every in 2usize..6) {
        let mut cfg = CollectionConfig::new(8);
        cfg.merge_interval = if merge_now { std::time::Duration::ZERO } else { std::time::Duration::from_secs(3_600) };
        cfg.hnsw_threshold = 16; // cross into HNSW and back
        cfg.insert_chunk = 4;
        let col = VectorCollection::new("model", cfg).unwrap();
        let mut model: HashMap<String, u8> = HashMap::new();
        for (version, batch) in batches.into_iter().enumerate() {
            let mut updates = Vec::new();
            for (key, val) in batch {
                let id = format!("k{key}");
                match val {
                    Some(s) => {
                        model.insert(id.clone(), s);
                        updates.push(PointUpdate::upsert(id, vector(s), vec![("city".into(), format!("c{}", s % 3))]));
                    }
                    None => { model.remove(&id); updates.push(PointUpdate::delete(id)); }
                }
            }
            prop_assert!(col.apply(updates, version as u64).is_empty());
            if (version + 1) % merge_every == 0 {
                col.merge();
            }
            let ids = col.ids();
            prop_assert_eq!(ids.len(), model.len());
            for (id, s) in &model {
                prop_assert!(ids.contains(id));
                // Each point's stored vector is the newest one written.
                let stored = col.vector(id).unwrap();
                let mut want = vector(*s);
                let n = want.iter().map(|x| x * x).sum::<f32>().sqrt();
                want.iter_mut().for_each(|x| *x /= n);
                prop_assert!(stored.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-4));
            }
            if !model.is_empty() {
                let k = model.len().min(5);
                let hits = col.search(&SearchRequest::new(vector(1), k)).unwrap();
                prop_assert_eq!(hits.len(), k);
                prop_assert!(hits.iter().all(|h| model.contains_key(h.id.as_str())));
                // Filtered on the newest payload, each id at most once, none missing.
                let mut req = SearchRequest::new(vector(2), 40);
                req.filter = sinks::Filter::default().with("city", "c1");
                let hits = col.search(&req).unwrap();
                let ids: std::collections::HashSet<_> = hits.iter().map(|h| h.id.as_str().to_owned()).collect();
                prop_assert_eq!(ids.len(), hits.len());
                let want: std::collections::HashSet<_> =
                    model.iter().filter(|(_, s)| *s % 3 == 1).map(|(id, _)| id.clone()).collect();
                prop_assert_eq!(ids, want);
            }
        }
    }
}
