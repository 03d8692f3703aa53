//! Helpers shared by the dataflow integration tests.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use dataflow::corpus::write_workers;
use dataflow::record::WorkerRecord;
use parquet::arrow::ArrowWriter;

/// Writes the first batch of `workers` in the canonical layout after `edit` changed its
/// columns, with plain `ArrowWriter` (not the corpus writer).
pub fn write_edited(path: &Path, workers: &[WorkerRecord], edit: impl FnOnce(&mut Vec<Field>, &mut Vec<ArrayRef>)) {
    let tmp = tempfile::tempdir().unwrap();
    let canonical = tmp.path().join("canonical.parquet");
    write_workers(&canonical, workers).unwrap();
    let batch = {
        let file = File::open(&canonical).unwrap();
        let mut reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        reader.next().unwrap().unwrap()
    };
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    edit(&mut fields, &mut columns);
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}
