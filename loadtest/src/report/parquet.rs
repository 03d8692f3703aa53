//! Parquet writers for `steps.parquet`, `scenarios.parquet` and `freshness.parquet`.
//!
//! One row per step, per scenario iteration and per ingest write; times are ns from
//! run start. Dropped and aborted iterations appear in both `scenarios` and `steps`
//! (as one row with step `-` and status 0), so nothing scheduled is silently missing.
//! Rows are written in batches of [`BATCH_ROWS`] to bound memory.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, StringBuilder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::error::LoadError;
use crate::report::{FreshnessRecord, IterationRecord, StepRecord};

/// Rows per record batch.
pub const BATCH_ROWS: usize = 65_536;

/// Step label of the placeholder row for a dropped or aborted iteration.
pub const NOT_STARTED_STEP: &str = "-";

fn field(name: &str, dt: DataType, nullable: bool) -> Field {
    Field::new(name, dt, nullable)
}

/// Schema of `steps.parquet`.
pub fn steps_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("run_id", DataType::Utf8, false),
        field("scenario", DataType::Utf8, false),
        field("step", DataType::Utf8, false),
        field("iteration", DataType::UInt64, false),
        field("intended_ns", DataType::UInt64, false),
        field("sent_ns", DataType::UInt64, false),
        field("end_ns", DataType::UInt64, false),
        field("latency_corrected_us", DataType::UInt64, false),
        field("latency_uncorrected_us", DataType::UInt64, false),
        field("status", DataType::UInt16, false),
        field("ok", DataType::Boolean, false),
        field("failure_reason", DataType::Utf8, true),
        field("arrival_state", DataType::Utf8, false),
    ]))
}

/// Schema of `scenarios.parquet`.
pub fn scenarios_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("run_id", DataType::Utf8, false),
        field("scenario", DataType::Utf8, false),
        field("iteration", DataType::UInt64, false),
        field("intended_ns", DataType::UInt64, false),
        field("sent_ns", DataType::UInt64, false),
        field("end_ns", DataType::UInt64, false),
        field("latency_corrected_us", DataType::UInt64, true),
        field("latency_uncorrected_us", DataType::UInt64, true),
        field("steps", DataType::UInt32, false),
        field("outcome", DataType::Utf8, false),
        field("ok", DataType::Boolean, false),
        field("failure_reason", DataType::Utf8, true),
        field("arrival_state", DataType::Utf8, false),
    ]))
}

/// Schema of `freshness.parquet`.
pub fn freshness_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("run_id", DataType::Utf8, false),
        field("id", DataType::Utf8, false),
        field("op", DataType::Utf8, false),
        field("sent_ns", DataType::UInt64, false),
        field("acked_ns", DataType::UInt64, true),
        field("visible_ns", DataType::UInt64, true),
        field("freshness_ms", DataType::Float64, true),
        field("ack_ms", DataType::Float64, true),
        field("version", DataType::UInt64, true),
        field("ok", DataType::Boolean, false),
        field("failure_reason", DataType::Utf8, true),
    ]))
}

/// Writes `rows` to `path` in batches; `build` turns one chunk into arrow columns.
fn write_table<R>(
    path: &Path,
    table: &'static str,
    schema: SchemaRef,
    rows: &[R],
    build: impl Fn(&[R]) -> Vec<ArrayRef>,
) -> Result<(), LoadError> {
    let pq = |source| LoadError::Parquet { path: path.to_owned(), source };
    let file = File::create(path).map_err(|e| LoadError::io(path, e))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(pq)?;
    for chunk in rows.chunks(BATCH_ROWS) {
        let batch =
            RecordBatch::try_new(schema.clone(), build(chunk)).map_err(|source| LoadError::Arrow { table, source })?;
        writer.write(&batch).map_err(pq)?;
    }
    writer.close().map_err(pq)?;
    Ok(())
}

/// Writes one row per step (and one placeholder row per dropped/aborted iteration).
pub fn write_steps(path: &Path, run_id: &str, iterations: &[IterationRecord]) -> Result<(), LoadError> {
    let rows: Vec<(&IterationRecord, Option<&StepRecord>)> = iterations
        .iter()
        .flat_map(|it| {
            let steps: Vec<Option<&StepRecord>> =
                if it.steps.is_empty() { vec![None] } else { it.steps.iter().map(Some).collect() };
            steps.into_iter().map(move |s| (it, s))
        })
        .collect();
    write_table(path, "steps", steps_schema(), &rows, |chunk| {
        let n = chunk.len();
        let mut run = StringBuilder::with_capacity(n, n * run_id.len());
        let mut scenario = StringBuilder::new();
        let mut step = StringBuilder::new();
        let mut iteration = UInt64Builder::with_capacity(n);
        let mut intended = UInt64Builder::with_capacity(n);
        let mut sent = UInt64Builder::with_capacity(n);
        let mut end = UInt64Builder::with_capacity(n);
        let mut corrected = UInt64Builder::with_capacity(n);
        let mut uncorrected = UInt64Builder::with_capacity(n);
        let mut status = UInt16Builder::with_capacity(n);
        let mut ok = BooleanBuilder::with_capacity(n);
        let mut reason = StringBuilder::new();
        let mut arrival = StringBuilder::new();
        for (it, s) in chunk {
            run.append_value(run_id);
            scenario.append_value(it.scenario.name());
            iteration.append_value(it.iteration);
            arrival.append_value(it.arrival.to_string());
            match s {
                Some(s) => {
                    step.append_value(s.step);
                    intended.append_value(s.intended_ns);
                    sent.append_value(s.sent_ns);
                    end.append_value(s.end_ns);
                    corrected.append_value(s.corrected_us());
                    uncorrected.append_value(s.uncorrected_us());
                    status.append_value(s.status);
                    ok.append_value(s.ok);
                    reason.append_option(s.failure.map(|r| r.code()));
                }
                None => {
                    step.append_value(NOT_STARTED_STEP);
                    intended.append_value(it.intended_ns);
                    sent.append_value(it.intended_ns);
                    end.append_value(it.intended_ns);
                    corrected.append_value(0);
                    uncorrected.append_value(0);
                    status.append_value(0);
                    ok.append_value(false);
                    reason.append_option(it.outcome.failure().map(|r| r.code()));
                }
            }
        }
        vec![
            Arc::new(run.finish()) as ArrayRef,
            Arc::new(scenario.finish()),
            Arc::new(step.finish()),
            Arc::new(iteration.finish()),
            Arc::new(intended.finish()),
            Arc::new(sent.finish()),
            Arc::new(end.finish()),
            Arc::new(corrected.finish()),
            Arc::new(uncorrected.finish()),
            Arc::new(status.finish()),
            Arc::new(ok.finish()),
            Arc::new(reason.finish()),
            Arc::new(arrival.finish()),
        ]
    })
}

/// Writes one row per scenario iteration, dropped and aborted ones included.
pub fn write_scenarios(path: &Path, run_id: &str, iterations: &[IterationRecord]) -> Result<(), LoadError> {
    write_table(path, "scenarios", scenarios_schema(), iterations, |chunk| {
        let n = chunk.len();
        let mut run = StringBuilder::with_capacity(n, n * run_id.len());
        let mut scenario = StringBuilder::new();
        let mut iteration = UInt64Builder::with_capacity(n);
        let mut intended = UInt64Builder::with_capacity(n);
        let mut sent = UInt64Builder::with_capacity(n);
        let mut end = UInt64Builder::with_capacity(n);
        let mut corrected = UInt64Builder::with_capacity(n);
        let mut uncorrected = UInt64Builder::with_capacity(n);
        let mut steps = UInt32Builder::with_capacity(n);
        let mut outcome = StringBuilder::new();
        let mut ok = BooleanBuilder::with_capacity(n);
        let mut reason = StringBuilder::new();
        let mut arrival = StringBuilder::new();
        for it in chunk {
            let executed = it.executed();
            run.append_value(run_id);
            scenario.append_value(it.scenario.name());
            iteration.append_value(it.iteration);
            intended.append_value(it.intended_ns);
            sent.append_value(it.sent_ns());
            end.append_value(it.end_ns());
            corrected.append_option(executed.then(|| it.corrected_us()));
            uncorrected.append_option(executed.then(|| it.uncorrected_us()));
            steps.append_value(u32::try_from(it.steps.len()).unwrap_or(u32::MAX));
            outcome.append_value(it.outcome.label());
            ok.append_value(it.outcome.failure().is_none());
            reason.append_option(it.outcome.failure().map(|r| r.code()));
            arrival.append_value(it.arrival.to_string());
        }
        vec![
            Arc::new(run.finish()) as ArrayRef,
            Arc::new(scenario.finish()),
            Arc::new(iteration.finish()),
            Arc::new(intended.finish()),
            Arc::new(sent.finish()),
            Arc::new(end.finish()),
            Arc::new(corrected.finish()),
            Arc::new(uncorrected.finish()),
            Arc::new(steps.finish()),
            Arc::new(outcome.finish()),
            Arc::new(ok.finish()),
            Arc::new(reason.finish()),
            Arc::new(arrival.finish()),
        ]
    })
}

/// Writes one row per ingest write.
pub fn write_freshness(path: &Path, run_id: &str, rows: &[FreshnessRecord]) -> Result<(), LoadError> {
    write_table(path, "freshness", freshness_schema(), rows, |chunk| {
        let n = chunk.len();
        let mut run = StringBuilder::with_capacity(n, n * run_id.len());
        let mut id = StringBuilder::new();
        let mut op = StringBuilder::new();
        let mut sent = UInt64Builder::with_capacity(n);
        let mut acked = UInt64Builder::with_capacity(n);
        let mut visible = UInt64Builder::with_capacity(n);
        let mut fresh = Float64Builder::with_capacity(n);
        let mut ack = Float64Builder::with_capacity(n);
        let mut version = UInt64Builder::with_capacity(n);
        let mut ok = BooleanBuilder::with_capacity(n);
        let mut reason = StringBuilder::new();
        for r in chunk {
            run.append_value(run_id);
            id.append_value(&r.id);
            op.append_value(r.op.label());
            sent.append_value(r.sent_ns);
            acked.append_option(r.acked_ns);
            visible.append_option(r.visible_ns);
            fresh.append_option(r.freshness_ms());
            ack.append_option(r.ack_ms());
            version.append_option(r.version);
            ok.append_value(r.ok);
            reason.append_option(r.failure.map(|f| f.code()));
        }
        vec![
            Arc::new(run.finish()) as ArrayRef,
            Arc::new(id.finish()),
            Arc::new(op.finish()),
            Arc::new(sent.finish()),
            Arc::new(acked.finish()),
            Arc::new(visible.finish()),
            Arc::new(fresh.finish()),
            Arc::new(ack.finish()),
            Arc::new(version.finish()),
            Arc::new(ok.finish()),
            Arc::new(reason.finish()),
        ]
    })
}
