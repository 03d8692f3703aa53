//! Integration tests of the worker corpus: generation properties and parquet round trips.

mod common;
use common::write_edited;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::Int64Array;
use arrow_schema::{DataType, Field};
use dataflow::corpus::{
    generate_corpus, generate_validator_pool, generate_workers, open_workers, read_workers, validator_pool_combos,
    worker_schema, write_workers, CorpusError,
};
use dataflow::record::WorkerRecord;

fn index_of(name: &str) -> usize {
    worker_schema().index_of(name).unwrap()
}

#[test]
fn same_seed_same_records_different_seed_different() {
    let a = generate_workers(2_000, 42);
    let b = generate_workers(2_000, 42);
    let c = generate_workers(2_000, 43);
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Different in substance, not just in one field of one record.
    let differing = a.iter().zip(&c).filter(|(x, y)| x.role != y.role).count();
    assert!(differing > 500, "only {differing} roles differ");
    assert_eq!(generate_corpus(100, 9), generate_corpus(100, 9));
    assert_eq!(generate_validator_pool(), generate_validator_pool());
}

#[test]
fn ids_are_sequential_seven_digit() {
    let workers = generate_workers(1_234, 7);
    assert_eq!(workers.len(), 1_234);
    assert_eq!(workers[0].id.as_str(), "w-0000001");
    assert_eq!(workers[1_233].id.as_str(), "w-0001234");
    for (i, w) in workers.iter().enumerate() {
        assert_eq!(w.id.as_str(), format!("w-{:07}", i + 1));
    }
}

#[test]
fn validator_pool_has_200_workers_over_35_combos() {
    let pool = generate_validator_pool();
    assert_eq!(pool.len(), 200);
    for (i, w) in pool.iter().enumerate() {
        assert_eq!(w.id.as_str(), format!("test-w-{:03}", i + 1));
    }
    let combos = validator_pool_combos();
    assert_eq!(combos.len(), 35);
    let combo_set: HashSet<_> = combos.iter().cloned().collect();
    assert_eq!(combo_set.len(), 35);

    let mut counts: HashMap<(String, String, String), usize> = HashMap::new();
    for w in &pool {
        *counts.entry((w.city.clone(), w.state.clone(), w.role.clone())).or_default() += 1;
    }
    assert_eq!(counts.len(), 35);
    assert_eq!(counts.keys().cloned().collect::<HashSet<_>>(), combo_set);
    for (combo, n) in &counts {
        assert!((5..=6).contains(n), "{combo:?} has {n} workers");
    }

    // The corpus is the workers followed by the pool.
    let corpus = generate_corpus(300, 1);
    assert_eq!(corpus.len(), 500);
    assert_eq!(&corpus[..300], &generate_workers(300, 1)[..]);
    assert_eq!(&corpus[300..], &pool[..]);
}

#[test]
fn corpus_covers_vocabulary_and_is_skewed() {
    let workers = generate_workers(20_000, 2026);
    let mut roles: HashMap<&str, usize> = HashMap::new();
    let mut metros: HashMap<(&str, &str), usize> = HashMap::new();
    for w in &workers {
        *roles.entry(w.role.as_str()).or_default() += 1;
        *metros.entry((w.city.as_str(), w.state.as_str())).or_default() += 1;
    }
    assert!(roles.len() >= 40, "{} roles", roles.len());
    assert!(metros.len() >= 60, "{} metros", metros.len());

    let mut counts: Vec<usize> = roles.values().copied().collect();
    counts.sort_unstable();
    let max = *counts.last().unwrap();
    let median = counts[counts.len() / 2];
    assert!(max >= 3 * median, "max {max} vs median {median}");

    let mut metro_counts: Vec<usize> = metros.values().copied().collect();
    metro_counts.sort_unstable();
    let max = *metro_counts.last().unwrap();
    let median = metro_counts[metro_counts.len() / 2];
    assert!(max >= 3 * median, "metros: max {max} vs median {median}");

    // Lower-case roles, SSN-free phones.
    for w in &workers {
        assert_eq!(w.role, w.role.to_lowercase());
        assert_eq!(&w.phone[3..8], "-555-", "{}", w.phone);
    }
}

#[test]
fn write_then_read_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/corpus/workers.parquet");
    let workers = generate_corpus(20_000, 11);
    write_workers(&path, &workers).unwrap();
    let back = read_workers(&path).unwrap();
    assert_eq!(back.len(), workers.len());
    assert_eq!(back, workers);

    // Overwriting replaces the file atomically with the new content.
    let fewer = generate_workers(10, 12);
    write_workers(&path, &fewer).unwrap();
    assert_eq!(read_workers(&path).unwrap(), fewer);

    // Empty files are fine too.
    let empty = dir.path().join("empty.parquet");
    write_workers(&empty, &[]).unwrap();
    assert!(read_workers(&empty).unwrap().is_empty());
}

#[test]
fn streaming_reader_yields_same_rows_in_bounded_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workers.parquet");
    let workers = generate_corpus(10_000, 3);
    write_workers(&path, &workers).unwrap();
    let mut all = Vec::new();
    let mut batches = 0;
    for batch in open_workers(&path, 1_000).unwrap() {
        let batch = batch.unwrap();
        assert!(!batch.is_empty() && batch.len() <= 1_000, "{}", batch.len());
        batches += 1;
        all.extend(batch);
    }
    assert!(batches >= 11, "{batches} batches");
    assert_eq!(all, workers);
}

#[test]
fn missing_column_names_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no_city.parquet");
    let workers = generate_workers(20, 1);
    write_edited(&path, &workers, |fields, cols| {
        let i = index_of("city");
        fields.remove(i);
        cols.remove(i);
    });
    let err = read_workers(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(&err, CorpusError::MissingColumn { column, .. } if column == "city"), "{msg}");
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
    assert!(msg.contains("no_city.parquet") && msg.contains("city"), "{msg}");
    assert!(open_workers(&path, 10).is_err());
}

#[test]
fn mistyped_column_names_column_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("int_role.parquet");
    let workers = generate_workers(20, 1);
    write_edited(&path, &workers, |fields, cols| {
        let i = index_of("role");
        fields[i] = Field::new("role", DataType::Int64, false);
        cols[i] = Arc::new(Int64Array::from_iter_values(0..20));
    });
    let err = read_workers(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(&err, CorpusError::ColumnType { .. }), "{msg}");
    assert!(msg.contains("int_role.parquet"), "{msg}");
    assert!(msg.contains("column \"role\": expected Utf8, found Int64"), "{msg}");
}

#[test]
fn extra_columns_and_certless_files_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("extra.parquet");
    let workers = generate_workers(20, 4);
    write_edited(&path, &workers, |fields, cols| {
        // Drop both certification columns, add an extra one, move `id` to the end.
        for name in ["cert_expires_on", "certifications"] {
            let i = fields.iter().position(|f| f.name() == name).unwrap();
            fields.remove(i);
            cols.remove(i);
        }
        fields.push(Field::new("source", DataType::Int64, true));
        cols.push(Arc::new(Int64Array::from(vec![Some(1); 20])));
        let id_field = fields.remove(0);
        let id_col = cols.remove(0);
        fields.push(id_field);
        cols.push(id_col);
    });
    let back = read_workers(&path).unwrap();
    let expected: Vec<WorkerRecord> = workers
        .into_iter()
        .map(|mut w| {
            w.certifications.clear();
            w
        })
        .collect();
    assert!(expected.iter().zip(&generate_workers(20, 4)).any(|(a, b)| a != b));
    assert_eq!(back, expected);
}

#[test]
fn non_parquet_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.parquet");
    std::fs::write(&path, "id,name\nw-0000001,Ana Cruz\n".repeat(10)).unwrap();
    let err = read_workers(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CorpusError::NotParquet { .. }), "{msg}");
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");

    let tiny = dir.path().join("tiny.parquet");
    std::fs::write(&tiny, b"PAR1").unwrap();
    let err = open_workers(&tiny, 100).unwrap_err();
    assert!(err.to_string().contains("tiny.parquet"), "{err}");
}

#[test]
fn write_into_unwritable_location_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a directory is expected.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"x").unwrap();
    let path = blocker.join("workers.parquet");
    let err = write_workers(&path, &generate_workers(3, 1)).unwrap_err();
    assert!(matches!(err, CorpusError::Io { .. }), "{err}");
    assert!(err.to_string().contains("blocker"), "{err}");
}
