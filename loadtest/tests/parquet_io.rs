//! Parquet writers round-trip: rows written come back with the same count and values.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use loadtest::arrival::ArrivalState;
use loadtest::failure::FailureReason;
use loadtest::report::parquet::{write_freshness, write_scenarios, write_steps};
use loadtest::report::{FreshnessRecord, IterationRecord, Outcome, StepRecord, WriteOp};
use loadtest::scenarios::ScenarioKind;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Reads a parquet file into rows of column → value rendered as a string (nulls omitted).
// arrow's DataType is foreign and huge; the wildcard only rejects types we never write.
#[allow(clippy::wildcard_enum_match_arm)]
pub fn read_table(path: &Path) -> Vec<BTreeMap<String, String>> {
    let file = File::open(path).expect("open parquet");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet reader").build().expect("build reader");
    let mut rows = Vec::new();
    for batch in reader {
        let batch: RecordBatch = batch.expect("batch");
        for i in 0..batch.num_rows() {
            let mut row = BTreeMap::new();
            for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
                if col.is_null(i) {
                    continue;
                }
                let v = match field.data_type() {
                    DataType::Utf8 => col.as_string::<i32>().value(i).to_owned(),
                    DataType::UInt64 => col.as_primitive::<arrow_array::types::UInt64Type>().value(i).to_string(),
                    DataType::UInt32 => col.as_primitive::<arrow_array::types::UInt32Type>().value(i).to_string(),
                    DataType::UInt16 => col.as_primitive::<arrow_array::types::UInt16Type>().value(i).to_string(),
                    DataType::Float64 => col.as_primitive::<arrow_array::types::Float64Type>().value(i).to_string(),
                    DataType::Boolean => col.as_boolean().value(i).to_string(),
                    other => panic!("unexpected column type {other:?}"),
                };
                row.insert(field.name().clone(), v);
            }
            rows.push(row);
        }
    }
    rows
}

fn step(label: &'static str, intended: u64, sent: u64, end: u64, failure: Option<FailureReason>) -> StepRecord {
    StepRecord {
        step: label,
        intended_ns: intended,
        sent_ns: sent,
        end_ns: end,
        status: if failure.is_some() { 500 } else { 200 },
        ok: failure.is_none(),
        failure,
    }
}

fn iterations(n: u64) -> Vec<IterationRecord> {
    (0..n)
        .map(|i| {
            let t = i * 1_000_000;
            match i % 3 {
                0 => IterationRecord {
                    scenario: ScenarioKind::ProfileSwap,
                    iteration: i,
                    arrival: ArrivalState::Burst,
                    intended_ns: t,
                    steps: vec![
                        step("POST /v1/search", t, t + 10_000, t + 2_010_000, None),
                        step("POST /v1/search", t + 2_010_000, t + 2_020_000, t + 3_020_000, None),
                    ],
                    outcome: Outcome::Ok,
                },
                1 => IterationRecord {
                    scenario: ScenarioKind::RepeatCache,
                    iteration: i,
                    arrival: ArrivalState::Ramp(2),
                    intended_ns: t,
                    steps: vec![step("POST /v1/search", t, t + 5_000, t + 7_000, Some(FailureReason::Http5xx))],
                    outcome: Outcome::Failed(FailureReason::Http5xx),
                },
                _ => IterationRecord {
                    scenario: ScenarioKind::SmsValidate,
                    iteration: i,
                    arrival: ArrivalState::Base,
                    intended_ns: t,
                    steps: vec![],
                    outcome: Outcome::Dropped,
                },
            }
        })
        .collect()
}

#[test]
fn steps_and_scenarios_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    // More rows than one batch, to cover chunking.
    let its = iterations(70_000);
    let steps_path = dir.path().join("steps.parquet");
    let scen_path = dir.path().join("scenarios.parquet");
    write_steps(&steps_path, "run-x", &its).expect("write steps");
    write_scenarios(&scen_path, "run-x", &its).expect("write scenarios");

    let steps = read_table(&steps_path);
    let want_steps: usize = its.iter().map(|i| i.steps.len().max(1)).sum();
    assert_eq!(steps.len(), want_steps);
    let first = &steps[0];
    assert_eq!(first["run_id"], "run-x");
    assert_eq!(first["scenario"], "profile_swap");
    assert_eq!(first["step"], "POST /v1/search");
    assert_eq!(first["latency_corrected_us"], "2010");
    assert_eq!(first["latency_uncorrected_us"], "2000");
    assert_eq!(first["arrival_state"], "burst");
    assert_eq!(first["ok"], "true");
    assert!(!first.contains_key("failure_reason"));
    let failed = &steps[2];
    assert_eq!(failed["status"], "500");
    assert_eq!(failed["failure_reason"], "http_5xx");
    assert_eq!(failed["arrival_state"], "ramp:2");
    let dropped = &steps[3];
    assert_eq!(dropped["step"], "-");
    assert_eq!(dropped["status"], "0");
    assert_eq!(dropped["failure_reason"], "dropped");

    let scen = read_table(&scen_path);
    assert_eq!(scen.len(), its.len());
    assert_eq!(scen[0]["latency_corrected_us"], "3020");
    assert_eq!(scen[0]["latency_uncorrected_us"], "3010");
    assert_eq!(scen[0]["steps"], "2");
    assert_eq!(scen[1]["outcome"], "failed");
    assert_eq!(scen[2]["outcome"], "dropped");
    assert!(!scen[2].contains_key("latency_corrected_us"), "null for dropped");
    for (row, it) in scen.iter().zip(&its) {
        assert_eq!(row["iteration"], it.iteration.to_string());
        assert_eq!(row["intended_ns"], it.intended_ns.to_string());
    }
}

#[test]
fn freshness_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = vec![
        FreshnessRecord {
            id: "w-9000001".into(),
            op: WriteOp::Upsert,
            sent_ns: 1_000_000,
            acked_ns: Some(3_000_000),
            visible_ns: Some(6_000_000),
            version: Some(17),
            ok: true,
            failure: None,
        },
        FreshnessRecord {
            id: "w-9000002".into(),
            op: WriteOp::Delete,
            sent_ns: 2_000_000,
            acked_ns: None,
            visible_ns: None,
            version: None,
            ok: false,
            failure: Some(FailureReason::NotVisible),
        },
    ];
    let path = dir.path().join("freshness.parquet");
    write_freshness(&path, "run-y", &rows).expect("write");
    let back = read_table(&path);
    assert_eq!(back.len(), 2);
    assert_eq!(back[0]["id"], "w-9000001");
    assert_eq!(back[0]["op"], "upsert");
    assert_eq!(back[0]["freshness_ms"], "5");
    assert_eq!(back[0]["ack_ms"], "2");
    assert_eq!(back[0]["version"], "17");
    assert_eq!(back[1]["op"], "delete");
    assert_eq!(back[1]["failure_reason"], "not_visible");
    assert!(!back[1].contains_key("visible_ns"));
    assert_eq!(back[1]["ok"], "false");
}

/// Rows in a parquet file, from its footer.
fn row_count(path: &Path) -> i64 {
    let file = File::open(path).expect("open parquet");
    ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet reader").metadata().file_metadata().num_rows()
}

#[test]
fn the_collector_streams_rows_to_disk_while_the_run_goes_on() {
    use loadtest::report::parquet::ROW_GROUP_ROWS;
    use loadtest::report::Collector;

    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Collector::create(dir.path(), "run-stream").expect("collector");
    let its = iterations(3 * ROW_GROUP_ROWS as u64);
    let (dropped, want_steps) = (
        its.iter().filter(|i| i.outcome == Outcome::Dropped).count() as u64,
        its.iter().map(|i| i.steps.len().max(1)).sum::<usize>(),
    );
    for it in its.iter().cloned() {
        sink.push_iteration(it);
    }
    // Full row groups reach the disk while the sink is still open: nothing waits for the end
    // of the run in memory.
    let partial = dir.path().join("scenarios.parquet.partial");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) < 100_000 {
        assert!(std::time::Instant::now() < deadline, "no row group written before the sink was finished");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!dir.path().join("scenarios.parquet").exists(), "a table gets its name only when complete");
    let h = sink.finish().expect("finish");
    assert_eq!((h.total.runs + h.total.dropped + h.total.aborted) as usize, its.len());
    assert_eq!(h.total.dropped, dropped);
    assert_eq!(row_count(&dir.path().join("scenarios.parquet")), its.len() as i64);
    assert_eq!(row_count(&dir.path().join("steps.parquet")), want_steps as i64);
    assert_eq!(row_count(&dir.path().join("freshness.parquet")), 0);
    assert!(!partial.exists());
}
