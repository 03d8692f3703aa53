//! Parquet storage of worker records: an atomic writer and a lenient, streaming reader.
//!
//! The file layout is [`worker_schema`]: one row per worker, certifications as two
//! parallel lists (`certifications`, `cert_expires_on`). Reading accepts any parquet file
//! with the required columns: extra columns are ignored (not even decoded), column order
//! does not matter, nullable columns are fine as long as required values are present, and
//! natural type variations are converted (any integer width for the integer columns,
//! `Date32`/`Date64` for dates, any timestamp unit or `Int64` milliseconds for
//! `updated_at`, `Utf8`/`LargeUtf8`/`Utf8View` for text, `List`/`LargeList` for lists).

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::builder::{Date32Builder, ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type,
    UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, Date32Array, OffsetSizeTrait, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::CorpusError;
use crate::record::{Certification, WorkerId, WorkerRecord};

/// Rows per record batch written by [`write_workers`].
pub const WRITE_BATCH_ROWS: usize = 8192;

/// Batch size used by [`read_workers`].
pub const READ_BATCH_ROWS: usize = 8192;

const ID: &str = "id";
const NAME: &str = "name";
const ROLE: &str = "role";
const CITY: &str = "city";
const STATE: &str = "state";
const SKILLS: &str = "skills";
const CERTIFICATIONS: &str = "certifications";
const CERT_EXPIRES_ON: &str = "cert_expires_on";
const YEARS_EXPERIENCE: &str = "years_experience";
const HOURLY_RATE_CENTS: &str = "hourly_rate_cents";
const SHIFT: &str = "shift";
const AVAILABLE_FROM: &str = "available_from";
const RELIABILITY_MILLI: &str = "reliability_milli";
const PHONE: &str = "phone";
const EMAIL: &str = "email";
const UPDATED_AT: &str = "updated_at";

const MS_PER_DAY: i64 = 86_400_000;

/// The logical kind of a column, and what physical types are accepted for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Str,
    UInt,
    Date,
    Timestamp,
    StrList,
    DateList,
}

impl Kind {
    /// The canonical type, as written by [`write_workers`] and named in errors.
    fn expected(self) -> &'static str {
        match self {
            Kind::Str => "Utf8",
            Kind::UInt => "UInt32",
            Kind::Date => "Date32",
            Kind::Timestamp => "Timestamp(Millisecond)",
            Kind::StrList => "List<Utf8>",
            Kind::DateList => "List<Date32>",
        }
    }

    fn accepts(self, dt: &DataType) -> bool {
        match self {
            Kind::Str => matches!(dt, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
            Kind::UInt => dt.is_integer(),
            Kind::Date => matches!(dt, DataType::Date32 | DataType::Date64),
            Kind::Timestamp => matches!(dt, DataType::Timestamp(..) | DataType::Int64),
            Kind::StrList => list_item_type(dt).is_some_and(|t| Kind::Str.accepts(t)),
            Kind::DateList => list_item_type(dt).is_some_and(|t| Kind::Date.accepts(t)),
        }
    }
}

fn list_item_type(dt: &DataType) -> Option<&DataType> {
    if let DataType::List(f) | DataType::LargeList(f) = dt {
        Some(f.data_type())
    } else {
        None
    }
}

/// Required columns and their kinds (the certification pair is handled separately).
const REQUIRED: [(&str, Kind); 14] = [
    (ID, Kind::Str),
    (NAME, Kind::Str),
    (ROLE, Kind::Str),
    (CITY, Kind::Str),
    (STATE, Kind::Str),
    (SKILLS, Kind::StrList),
    (YEARS_EXPERIENCE, Kind::UInt),
    (HOURLY_RATE_CENTS, Kind::UInt),
    (SHIFT, Kind::Str),
    (AVAILABLE_FROM, Kind::Date),
    (RELIABILITY_MILLI, Kind::UInt),
    (PHONE, Kind::Str),
    (EMAIL, Kind::Str),
    (UPDATED_AT, Kind::Timestamp),
];

/// The optional certification pair: both present or both absent.
const CERT_COLUMNS: [(&str, Kind); 2] = [(CERTIFICATIONS, Kind::StrList), (CERT_EXPIRES_ON, Kind::DateList)];

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

/// The arrow schema of a worker parquet file as written by [`write_workers`].
///
/// `id`, `name`, `role`, `city`, `state`, `shift`, `phone`, `email`: Utf8;
/// `skills`, `certifications`: List<Utf8>; `cert_expires_on`: List<Date32> (parallel to
/// `certifications`); `years_experience`, `hourly_rate_cents`, `reliability_milli`:
/// UInt32; `available_from`: Date32; `updated_at`: Timestamp(Millisecond, None). All
/// columns are non-nullable; list items are nullable (arrow's default list field).
pub fn worker_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(ID, DataType::Utf8, false),
        Field::new(NAME, DataType::Utf8, false),
        Field::new(ROLE, DataType::Utf8, false),
        Field::new(CITY, DataType::Utf8, false),
        Field::new(STATE, DataType::Utf8, false),
        Field::new(SKILLS, list_of(DataType::Utf8), false),
        Field::new(CERTIFICATIONS, list_of(DataType::Utf8), false),
        Field::new(CERT_EXPIRES_ON, list_of(DataType::Date32), false),
        Field::new(YEARS_EXPERIENCE, DataType::UInt32, false),
        Field::new(HOURLY_RATE_CENTS, DataType::UInt32, false),
        Field::new(SHIFT, DataType::Utf8, false),
        Field::new(AVAILABLE_FROM, DataType::Date32, false),
        Field::new(RELIABILITY_MILLI, DataType::UInt32, false),
        Field::new(PHONE, DataType::Utf8, false),
        Field::new(EMAIL, DataType::Utf8, false),
        Field::new(UPDATED_AT, DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]))
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

fn parquet_err(path: &Path, e: impl std::fmt::Display) -> CorpusError {
    CorpusError::Parquet { path: path.to_path_buf(), message: e.to_string() }
}

fn io_err(path: &Path, source: std::io::Error) -> CorpusError {
    CorpusError::Io { path: path.to_path_buf(), source }
}

fn string_column<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn u32_column(values: impl Iterator<Item = u32>) -> ArrayRef {
    Arc::new(UInt32Array::from_iter_values(values))
}

/// One record batch in [`worker_schema`] layout.
fn to_batch(path: &Path, schema: &SchemaRef, workers: &[WorkerRecord]) -> Result<RecordBatch, CorpusError> {
    let n = workers.len();
    let mut skills = ListBuilder::with_capacity(StringBuilder::new(), n);
    let mut cert_names = ListBuilder::with_capacity(StringBuilder::new(), n);
    let mut cert_expiry = ListBuilder::with_capacity(Date32Builder::new(), n);
    for w in workers {
        for s in &w.skills {
            skills.values().append_value(s);
        }
        skills.append(true);
        for c in &w.certifications {
            cert_names.values().append_value(&c.name);
            cert_expiry.values().append_value(c.expires_on);
        }
        cert_names.append(true);
        cert_expiry.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        string_column(workers.iter().map(|w| w.id.as_str())),
        string_column(workers.iter().map(|w| w.name.as_str())),
        string_column(workers.iter().map(|w| w.role.as_str())),
        string_column(workers.iter().map(|w| w.city.as_str())),
        string_column(workers.iter().map(|w| w.state.as_str())),
        Arc::new(skills.finish()),
        Arc::new(cert_names.finish()),
        Arc::new(cert_expiry.finish()),
        u32_column(workers.iter().map(|w| w.years_experience)),
        u32_column(workers.iter().map(|w| w.hourly_rate_cents)),
        string_column(workers.iter().map(|w| w.shift.as_str())),
        Arc::new(Date32Array::from_iter_values(workers.iter().map(|w| w.available_from))),
        u32_column(workers.iter().map(|w| w.reliability_milli)),
        string_column(workers.iter().map(|w| w.phone.as_str())),
        string_column(workers.iter().map(|w| w.email.as_str())),
        Arc::new(TimestampMillisecondArray::from_iter_values(workers.iter().map(|w| w.updated_at))),
    ];
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| parquet_err(path, e))
}

/// Writes the whole file to `tmp` and syncs it.
fn write_file(tmp: &Path, path: &Path, workers: &[WorkerRecord]) -> Result<(), CorpusError> {
    let schema = worker_schema();
    let file = File::create(tmp).map_err(|e| io_err(tmp, e))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props)).map_err(|e| parquet_err(path, e))?;
    for chunk in workers.chunks(WRITE_BATCH_ROWS) {
        let batch = to_batch(path, &schema, chunk)?;
        writer.write(&batch).map_err(|e| parquet_err(path, e))?;
    }
    let file = writer.into_inner().map_err(|e| parquet_err(path, e))?;
    file.sync_all().map_err(|e| io_err(tmp, e))
}

/// Writes `workers` to `path` as parquet (snappy, [`worker_schema`], record batches of
/// [`WRITE_BATCH_ROWS`] rows).
///
/// Parent directories are created. The file is written to a temporary file in the same
/// directory and renamed over `path`, so readers never see a partial file; on error the
/// temporary file is removed and `path` is untouched.
pub fn write_workers(path: &Path, workers: &[WorkerRecord]) -> Result<(), CorpusError> {
    static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        Some(_) | None => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    let file_name =
        path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "workers.parquet".to_string());
    let tmp =
        dir.join(format!(".{file_name}.tmp-{}-{}", std::process::id(), TMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result =
        write_file(&tmp, path, workers).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| io_err(path, e)));
    if result.is_err() {
        // Best effort: the original error is what matters.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// A per-row accessor of one column: `None` for null.
type Get<'a, T> = Box<dyn Fn(usize) -> Option<T> + 'a>;

fn str_getter(a: &dyn Array) -> Option<Get<'_, &str>> {
    if let Some(s) = a.as_string_opt::<i32>() {
        return Some(Box::new(move |i| s.is_valid(i).then(|| s.value(i))));
    }
    if let Some(s) = a.as_string_opt::<i64>() {
        return Some(Box::new(move |i| s.is_valid(i).then(|| s.value(i))));
    }
    if let Some(s) = a.as_string_view_opt() {
        return Some(Box::new(move |i| s.is_valid(i).then(|| s.value(i))));
    }
    None
}

macro_rules! try_int {
    ($a:expr, $($t:ty),*) => {
        $(
            if let Some(p) = $a.as_primitive_opt::<$t>() {
                return Some(Box::new(move |i| p.is_valid(i).then(|| i128::from(p.value(i)))));
            }
        )*
    };
}

fn int_getter(a: &dyn Array) -> Option<Get<'_, i128>> {
    try_int!(a, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type);
    None
}

/// Dates as days since the epoch (Date64 milliseconds are floored to days).
fn date_getter(a: &dyn Array) -> Option<Get<'_, i64>> {
    if let Some(p) = a.as_primitive_opt::<Date32Type>() {
        return Some(Box::new(move |i| p.is_valid(i).then(|| i64::from(p.value(i)))));
    }
    if let Some(p) = a.as_primitive_opt::<Date64Type>() {
        return Some(Box::new(move |i| p.is_valid(i).then(|| p.value(i).div_euclid(MS_PER_DAY))));
    }
    None
}

/// Timestamps as milliseconds since the epoch (`None` also for out-of-range seconds).
fn millis_getter(a: &dyn Array) -> Option<Get<'_, i64>> {
    if let Some(p) = a.as_primitive_opt::<TimestampMillisecondType>() {
        return Some(Box::new(move |i| p.is_valid(i).then(|| p.value(i))));
    }
    if let Some(p) = a.as_primitive_opt::<Int64Type>() {
        return Some(Box::new(move |i| p.is_valid(i).then(|| p.value(i))));
    }
    if let Some(p) = a.as_primitive_opt::<TimestampSecondType>() {
        return Some(Box::new(move |i| p.is_valid(i).then(|| p.value(i).saturating_mul(1000))));
    }
    if let Some(p) = a.as_primitive_opt::<TimestampMicrosecondType>() {
        return Some(Box::new(move |i| p.is_valid(i).then(|| p.value(i).div_euclid(1000))));
    }
    if let Some(p) = a.as_primitive_opt::<TimestampNanosecondType>() {
        return Some(Box::new(move |i| p.is_valid(i).then(|| p.value(i).div_euclid(1_000_000))));
    }
    None
}

fn offsets_to_range<O: OffsetSizeTrait>(offsets: &[O], i: usize) -> Range<usize> {
    match (offsets.get(i), offsets.get(i + 1)) {
        (Some(a), Some(b)) => a.as_usize()..b.as_usize(),
        (Some(_), None) | (None, Some(_)) | (None, None) => 0..0,
    }
}

/// A list column: per-row ranges into its child values (`None` for a null list) and the
/// child values array.
fn list_getter(a: &dyn Array) -> Option<(Get<'_, Range<usize>>, &dyn Array)> {
    if let Some(l) = a.as_list_opt::<i32>() {
        let get: Get<'_, Range<usize>> =
            Box::new(move |i| l.is_valid(i).then(|| offsets_to_range(l.value_offsets(), i)));
        return Some((get, l.values().as_ref()));
    }
    if let Some(l) = a.as_list_opt::<i64>() {
        let get: Get<'_, Range<usize>> =
            Box::new(move |i| l.is_valid(i).then(|| offsets_to_range(l.value_offsets(), i)));
        return Some((get, l.values().as_ref()));
    }
    None
}

/// Streaming reader over a worker parquet file, yielding one `Vec<WorkerRecord>` per
/// record batch. Created by [`open_workers`].
///
/// Only the needed columns are decoded and at most one batch is converted at a time, so
/// memory does not grow with the file size. After the first error the iterator ends.
pub struct WorkerBatches {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    /// 0-based file row index of the next batch's first row.
    next_row: usize,
    /// Rows in the file, from its footer.
    total_rows: usize,
    has_certs: bool,
    done: bool,
}

impl std::fmt::Debug for WorkerBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerBatches")
            .field("path", &self.path)
            .field("next_row", &self.next_row)
            .field("has_certs", &self.has_certs)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Checks the arrow schema of the file; returns whether the certification pair exists.
fn validate_schema(path: &Path, schema: &Schema) -> Result<bool, CorpusError> {
    let check = |name: &str, kind: Kind| -> Result<bool, CorpusError> {
        match schema.fields().iter().find(|f| f.name() == name) {
            None => Ok(false),
            Some(f) if kind.accepts(f.data_type()) => Ok(true),
            Some(f) => Err(CorpusError::ColumnType {
                path: path.to_path_buf(),
                column: name.to_string(),
                expected: kind.expected().to_string(),
                found: f.data_type().to_string(),
            }),
        }
    };
    let missing = |name: &str| CorpusError::MissingColumn { path: path.to_path_buf(), column: name.to_string() };
    for (name, kind) in REQUIRED {
        if !check(name, kind)? {
            return Err(missing(name));
        }
    }
    let [(names_col, names_kind), (expiry_col, expiry_kind)] = CERT_COLUMNS;
    match (check(names_col, names_kind)?, check(expiry_col, expiry_kind)?) {
        (true, true) => Ok(true),
        (false, false) => Ok(false),
        (true, false) => Err(missing(expiry_col)),
        (false, true) => Err(missing(names_col)),
    }
}

/// Opens `path` for streaming, `batch_size` rows per item (0 is treated as 1).
///
/// The schema is checked up front: a missing or mistyped column fails here, naming the
/// file and the column. Row-level problems (nulls in required columns, out-of-range
/// values, certification lists of different lengths) are reported by the iterator as
/// [`CorpusError::Row`].
pub fn open_workers(path: &Path, batch_size: usize) -> Result<WorkerBatches, CorpusError> {
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| CorpusError::NotParquet { path: path.to_path_buf(), message: e.to_string() })?;
    let has_certs = validate_schema(path, builder.schema())?;
    let total_rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);

    let wanted: Vec<&str> =
        REQUIRED.iter().chain(CERT_COLUMNS.iter().filter(|_| has_certs)).map(|(name, _)| *name).collect();
    let roots: Vec<usize> = builder
        .parquet_schema()
        .root_schema()
        .get_fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| wanted.contains(&f.name()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader =
        builder.with_projection(mask).with_batch_size(batch_size.max(1)).build().map_err(|e| parquet_err(path, e))?;
    Ok(WorkerBatches { path: path.to_path_buf(), reader, next_row: 0, total_rows, has_certs, done: false })
}

/// Reads all workers of `path` (see [`open_workers`] for what is accepted).
pub fn read_workers(path: &Path) -> Result<Vec<WorkerRecord>, CorpusError> {
    let mut out = Vec::new();
    for batch in open_workers(path, READ_BATCH_ROWS)? {
        out.extend(batch?);
    }
    Ok(out)
}

impl WorkerBatches {
    fn row_err(&self, row: usize, column: &str, message: impl Into<String>) -> CorpusError {
        CorpusError::Row { path: self.path.clone(), row, column: column.to_string(), message: message.into() }
    }

    fn column<'b>(&self, batch: &'b RecordBatch, name: &str) -> Result<&'b dyn Array, CorpusError> {
        batch
            .column_by_name(name)
            .map(|a| a.as_ref())
            .ok_or_else(|| CorpusError::MissingColumn { path: self.path.clone(), column: name.to_string() })
    }

    fn type_err(&self, name: &str, kind: Kind, array: &dyn Array) -> CorpusError {
        CorpusError::ColumnType {
            path: self.path.clone(),
            column: name.to_string(),
            expected: kind.expected().to_string(),
            found: array.data_type().to_string(),
        }
    }

    fn str_col<'b>(&self, batch: &'b RecordBatch, name: &str) -> Result<Get<'b, &'b str>, CorpusError> {
        let a = self.column(batch, name)?;
        str_getter(a).ok_or_else(|| self.type_err(name, Kind::Str, a))
    }

    fn int_col<'b>(&self, batch: &'b RecordBatch, name: &str) -> Result<Get<'b, i128>, CorpusError> {
        let a = self.column(batch, name)?;
        int_getter(a).ok_or_else(|| self.type_err(name, Kind::UInt, a))
    }

    fn str_list_col<'b>(
        &self,
        batch: &'b RecordBatch,
        name: &str,
    ) -> Result<(Get<'b, Range<usize>>, Get<'b, &'b str>), CorpusError> {
        let a = self.column(batch, name)?;
        list_getter(a)
            .and_then(|(ranges, values)| str_getter(values).map(|v| (ranges, v)))
            .ok_or_else(|| self.type_err(name, Kind::StrList, a))
    }

    fn date_list_col<'b>(
        &self,
        batch: &'b RecordBatch,
        name: &str,
    ) -> Result<(Get<'b, Range<usize>>, Get<'b, i64>), CorpusError> {
        let a = self.column(batch, name)?;
        list_getter(a)
            .and_then(|(ranges, values)| date_getter(values).map(|v| (ranges, v)))
            .ok_or_else(|| self.type_err(name, Kind::DateList, a))
    }

    fn req_str(&self, get: &Get<'_, &str>, i: usize, row: usize, col: &str) -> Result<String, CorpusError> {
        get(i).map(str::to_owned).ok_or_else(|| self.row_err(row, col, "null value in required column"))
    }

    fn req_u32(&self, get: &Get<'_, i128>, i: usize, row: usize, col: &str) -> Result<u32, CorpusError> {
        let v = get(i).ok_or_else(|| self.row_err(row, col, "null value in required column"))?;
        u32::try_from(v).map_err(|_| self.row_err(row, col, format!("value {v} out of range for UInt32")))
    }

    fn req_day(&self, v: Option<i64>, row: usize, col: &str) -> Result<i32, CorpusError> {
        let v = v.ok_or_else(|| self.row_err(row, col, "null value in required column"))?;
        i32::try_from(v).map_err(|_| self.row_err(row, col, format!("date {v} out of range for Date32")))
    }

    /// Converts one record batch row by row; `self.next_row` is the file row of its first
    /// row. The outer error is about the batch (a column that cannot be read at all), the
    /// inner ones about single rows.
    fn convert_rows(&self, batch: &RecordBatch) -> Result<Vec<RowRead>, CorpusError> {
        let id = self.str_col(batch, ID)?;
        let name = self.str_col(batch, NAME)?;
        let role = self.str_col(batch, ROLE)?;
        let city = self.str_col(batch, CITY)?;
        let state = self.str_col(batch, STATE)?;
        let (skill_ranges, skill_values) = self.str_list_col(batch, SKILLS)?;
        let years = self.int_col(batch, YEARS_EXPERIENCE)?;
        let rate = self.int_col(batch, HOURLY_RATE_CENTS)?;
        let shift = self.str_col(batch, SHIFT)?;
        let available_arr = self.column(batch, AVAILABLE_FROM)?;
        let available =
            date_getter(available_arr).ok_or_else(|| self.type_err(AVAILABLE_FROM, Kind::Date, available_arr))?;
        let reliability = self.int_col(batch, RELIABILITY_MILLI)?;
        let phone = self.str_col(batch, PHONE)?;
        let email = self.str_col(batch, EMAIL)?;
        let updated_arr = self.column(batch, UPDATED_AT)?;
        let updated =
            millis_getter(updated_arr).ok_or_else(|| self.type_err(UPDATED_AT, Kind::Timestamp, updated_arr))?;
        let certs = if self.has_certs {
            Some((self.str_list_col(batch, CERTIFICATIONS)?, self.date_list_col(batch, CERT_EXPIRES_ON)?))
        } else {
            None
        };

        let convert_row = |i: usize, row: usize| -> Result<WorkerRecord, CorpusError> {
            let mut skills = Vec::new();
            for j in skill_ranges(i).unwrap_or(0..0) {
                let s = skill_values(j).ok_or_else(|| self.row_err(row, SKILLS, "null skill in list"))?;
                skills.push(s.to_owned());
            }

            let mut certifications = Vec::new();
            if let Some(((name_ranges, name_values), (exp_ranges, exp_values))) = &certs {
                let names = name_ranges(i).unwrap_or(0..0);
                let expiries = exp_ranges(i).unwrap_or(0..0);
                if names.len() != expiries.len() {
                    return Err(self.row_err(
                        row,
                        CERT_EXPIRES_ON,
                        format!("{} certifications but {} expiry dates", names.len(), expiries.len()),
                    ));
                }
                for (n, e) in names.zip(expiries) {
                    let cert_name =
                        name_values(n).ok_or_else(|| self.row_err(row, CERTIFICATIONS, "null certification name"))?;
                    let expires_on = self.req_day(exp_values(e), row, CERT_EXPIRES_ON)?;
                    certifications.push(Certification { name: cert_name.to_owned(), expires_on });
                }
            }

            Ok(WorkerRecord {
                id: WorkerId(self.req_str(&id, i, row, ID)?),
                name: self.req_str(&name, i, row, NAME)?,
                role: self.req_str(&role, i, row, ROLE)?,
                city: self.req_str(&city, i, row, CITY)?,
                state: self.req_str(&state, i, row, STATE)?,
                skills,
                certifications,
                years_experience: self.req_u32(&years, i, row, YEARS_EXPERIENCE)?,
                hourly_rate_cents: self.req_u32(&rate, i, row, HOURLY_RATE_CENTS)?,
                shift: self.req_str(&shift, i, row, SHIFT)?,
                available_from: self.req_day(available(i), row, AVAILABLE_FROM)?,
                reliability_milli: self.req_u32(&reliability, i, row, RELIABILITY_MILLI)?,
                phone: self.req_str(&phone, i, row, PHONE)?,
                email: self.req_str(&email, i, row, EMAIL)?,
                updated_at: updated(i).ok_or_else(|| self.row_err(row, UPDATED_AT, "null value in required column"))?,
            })
        };

        Ok((0..batch.num_rows())
            .map(|i| {
                let row = self.next_row + i;
                RowRead { row, id: id(i).map(str::to_owned), record: convert_row(i, row) }
            })
            .collect())
    }

    /// Rows in the file (from its footer; nothing is decoded).
    pub fn total_rows(&self) -> usize {
        self.total_rows
    }

    /// The next record batch with every row converted on its own: a bad row is returned as
    /// its error and the rest of the batch (and file) is still read. The outer error ends
    /// the iteration (the file cannot be decoded further). `None` at the end of the file.
    pub fn next_rows(&mut self) -> Option<Result<Vec<RowRead>, CorpusError>> {
        if self.done {
            return None;
        }
        let batch = match self.reader.next() {
            None => {
                self.done = true;
                return None;
            }
            Some(Err(e)) => {
                self.done = true;
                return Some(Err(parquet_err(&self.path, e)));
            }
            Some(Ok(batch)) => batch,
        };
        let result = self.convert_rows(&batch);
        self.next_row += batch.num_rows();
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}

/// One row read by [`WorkerBatches::next_rows`].
#[derive(Debug)]
pub struct RowRead {
    /// 0-based row index within the file.
    pub row: usize,
    /// The row's id, if it has one.
    pub id: Option<String>,
    /// The record, or what is wrong with the row ([`CorpusError::Row`]).
    pub record: Result<WorkerRecord, CorpusError>,
}

impl Iterator for WorkerBatches {
    type Item = Result<Vec<WorkerRecord>, CorpusError>;

    /// The next batch; the first bad row fails it and ends the iteration.
    fn next(&mut self) -> Option<Self::Item> {
        let result = self.next_rows()?.and_then(|rows| rows.into_iter().map(|r| r.record).collect());
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::generate_corpus;
    use arrow_array::Int64Array;

    fn write_batch(path: &Path, batch: &RecordBatch) {
        let file = File::create(path).unwrap();
        let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
    }

    fn sample_worker() -> WorkerRecord {
        WorkerRecord {
            id: WorkerId("w-0000001".into()),
            name: "Ana Cruz".into(),
            role: "welder".into(),
            city: "Houston".into(),
            state: "TX".into(),
            skills: vec!["mig welding".into(), "tig welding".into()],
            certifications: vec![Certification { name: "AWS D1.1 welding".into(), expires_on: 20_000 }],
            years_experience: 4,
            hourly_rate_cents: 2_875,
            shift: "night".into(),
            available_from: 20_760,
            reliability_milli: 910,
            phone: "713-555-0142".into(),
            email: "ana.cruz@example.com".into(),
            updated_at: 1_790_812_800_123,
        }
    }

    #[test]
    fn schema_matches_written_batches() {
        let schema = worker_schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [
                "id",
                "name",
                "role",
                "city",
                "state",
                "skills",
                "certifications",
                "cert_expires_on",
                "years_experience",
                "hourly_rate_cents",
                "shift",
                "available_from",
                "reliability_milli",
                "phone",
                "email",
                "updated_at"
            ]
        );
        let batch = to_batch(Path::new("x"), &schema, &[sample_worker()]).unwrap();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), schema);
    }

    #[test]
    fn round_trip_in_module_and_file_keeps_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/deeper/w.parquet");
        let workers = generate_corpus(50, 5);
        write_workers(&path, &workers).unwrap();
        assert_eq!(read_workers(&path).unwrap(), workers);
        let file = File::open(&path).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        assert_eq!(builder.schema().fields(), worker_schema().fields());
        // No temporary files left behind.
        let entries: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(entries, vec![std::ffi::OsString::from("w.parquet")]);
    }

    #[test]
    fn lenient_types_and_missing_certs() {
        // Reordered columns, an extra column, Int64 integers, LargeUtf8 text, Date64,
        // Int64 milliseconds, nullable fields, no certification columns.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lenient.parquet");
        let w = sample_worker();
        let mut skills = ListBuilder::new(StringBuilder::new());
        for s in &w.skills {
            skills.values().append_value(s);
        }
        skills.append(true);
        let text = |v: &str| -> ArrayRef { Arc::new(arrow_array::LargeStringArray::from(vec![v])) };
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("extra", Arc::new(Int64Array::from(vec![7]))),
            ("updated_at", Arc::new(Int64Array::from(vec![w.updated_at]))),
            ("email", text(&w.email)),
            ("phone", text(&w.phone)),
            ("reliability_milli", Arc::new(Int64Array::from(vec![910]))),
            (
                "available_from",
                Arc::new(arrow_array::Date64Array::from(vec![i64::from(w.available_from) * MS_PER_DAY + 5])),
            ),
            ("shift", text(&w.shift)),
            ("hourly_rate_cents", Arc::new(arrow_array::Int32Array::from(vec![2_875]))),
            ("years_experience", Arc::new(arrow_array::UInt64Array::from(vec![4u64]))),
            ("skills", Arc::new(skills.finish())),
            ("state", text(&w.state)),
            ("city", text(&w.city)),
            ("role", text(&w.role)),
            ("name", text(&w.name)),
            ("id", text(w.id.as_str())),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        write_batch(&path, &batch);
        let got = read_workers(&path).unwrap();
        let mut expected = w.clone();
        expected.certifications.clear();
        assert_eq!(got, vec![expected]);
    }

    #[test]
    fn row_errors_name_file_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.parquet");
        let mut workers = vec![sample_worker(), sample_worker()];
        workers[1].id = WorkerId("w-0000002".into());
        let schema = worker_schema();
        let good = to_batch(&path, &schema, &workers).unwrap();

        // Negative years_experience in row 1.
        let mut cols: Vec<ArrayRef> = good.columns().to_vec();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        cols[8] = Arc::new(Int64Array::from(vec![3, -2]));
        fields[8] = Field::new("years_experience", DataType::Int64, false);
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields.clone())), cols).unwrap();
        write_batch(&path, &batch);
        let err = read_workers(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CorpusError::Row { row: 1, .. }), "{msg}");
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        assert!(msg.contains("years_experience") && msg.contains("-2"), "{msg}");

        // Null role in row 0.
        let mut cols: Vec<ArrayRef> = good.columns().to_vec();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        cols[2] = Arc::new(StringArray::from(vec![None, Some("welder")]));
        fields[2] = Field::new("role", DataType::Utf8, true);
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
        write_batch(&path, &batch);
        let err = read_workers(&path).unwrap_err();
        assert!(matches!(&err, CorpusError::Row { row: 0, column, .. } if column == "role"), "{err}");
        assert!(err.to_string().contains("null"), "{err}");
    }

    #[test]
    fn mismatched_certification_lists_are_a_row_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("certs.parquet");
        let mut workers = vec![sample_worker(), sample_worker(), sample_worker()];
        workers[0].certifications.clear();
        let schema = worker_schema();
        let good = to_batch(&path, &schema, &workers).unwrap();
        // Expiry lists: [d], [d], [] — row 0 has 0 names but 1 date.
        let mut exp = ListBuilder::new(Date32Builder::new());
        exp.values().append_value(1);
        exp.append(true);
        exp.values().append_value(2);
        exp.append(true);
        exp.append(true);
        let mut cols: Vec<ArrayRef> = good.columns().to_vec();
        cols[7] = Arc::new(exp.finish());
        let batch = RecordBatch::try_new(schema, cols).unwrap();
        write_batch(&path, &batch);
        let err = read_workers(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(&err, CorpusError::Row { row: 0, column, .. } if column == "cert_expires_on"), "{msg}");
        assert!(msg.contains("certs.parquet") && msg.contains("row 0"), "{msg}");
    }

    #[test]
    fn only_one_cert_column_is_missing_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("half.parquet");
        let schema = worker_schema();
        let good = to_batch(&path, &schema, &[sample_worker()]).unwrap();
        let batch = good.project(&[0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15]).unwrap();
        write_batch(&path, &batch);
        let err = read_workers(&path).unwrap_err();
        assert!(matches!(&err, CorpusError::MissingColumn { column, .. } if column == "cert_expires_on"), "{err}");
    }

    #[test]
    fn zero_batch_size_reads_one_row_per_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.parquet");
        let workers = generate_corpus(10, 1);
        write_workers(&path, &workers).unwrap();
        let batches: Vec<_> = open_workers(&path, 0).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(batches.len(), workers.len());
        assert!(batches.iter().all(|b| b.len() == 1));
        assert_eq!(batches.concat(), workers);
    }

    #[test]
    fn row_error_ends_the_stream_with_the_file_row_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stop.parquet");
        let workers = vec![sample_worker(); 5];
        let schema = worker_schema();
        let good = to_batch(&path, &schema, &workers).unwrap();
        let mut cols: Vec<ArrayRef> = good.columns().to_vec();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        cols[13] = Arc::new(StringArray::from(vec![Some("a"), Some("b"), Some("c"), None, Some("e")]));
        fields[13] = Field::new("phone", DataType::Utf8, true);
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
        write_batch(&path, &batch);
        let mut it = open_workers(&path, 2).unwrap();
        assert_eq!(it.next().unwrap().unwrap().len(), 2);
        let err = it.next().unwrap().unwrap_err();
        assert!(matches!(&err, CorpusError::Row { row: 3, column, .. } if column == "phone"), "{err}");
        assert!(it.next().is_none());
    }

    #[test]
    fn missing_file_is_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.parquet");
        let err = read_workers(&path).unwrap_err();
        assert!(matches!(err, CorpusError::Io { .. }));
        assert!(err.to_string().starts_with(&path.display().to_string()));
    }
}
