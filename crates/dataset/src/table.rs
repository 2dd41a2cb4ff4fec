//! Parquet tables of serde rows. One writing stack for every stage: arrow-rs's Parquet writer
//! and reader, with rows mapped to Arrow by serde_arrow, so a record struct is its schema.
//!
//! Tables are written and read in batches (memory stays bounded whatever the row count) and
//! written atomically: rows go to a temporary file beside the target, which is renamed over it
//! only by [`TableWriter::finish`].

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::{FieldRef, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_arrow::schema::{SchemaLike, TracingOptions};

use crate::{Error, Result};

/// Rows per Arrow batch and per Parquet row group: a few tens of MB of Dockerfile text.
pub const BATCH_ROWS: usize = 8192;

fn table_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Table { path: path.to_owned(), message: message.to_string() }
}

/// The Arrow fields of a record type.
pub fn fields<T: Serialize + DeserializeOwned>() -> Result<Vec<FieldRef>> {
    Vec::<FieldRef>::from_type::<T>(TracingOptions::default().allow_null_fields(true))
        .map_err(|e| table_error(Path::new(std::any::type_name::<T>()), e))
}

/// Writes rows of `T` to a Parquet file, batch by batch. A full batch is handed to an encoder
/// thread (Arrow conversion, compression, the write), so that the stage goes on computing the
/// next one meanwhile (a rendezvous: one batch is encoded while the next fills, no more).
#[derive(Debug)]
pub struct TableWriter<T> {
    path: PathBuf,
    tmp: PathBuf,
    encoder: Option<Encoder<T>>,
    pending: Vec<T>,
    /// Rows per batch and row group.
    batch_rows: usize,
    rows: u64,
}

/// The thread that encodes a table's batches: it owns the Parquet writer until the table ends.
#[derive(Debug)]
struct Encoder<T> {
    batches: std::sync::mpsc::SyncSender<Vec<T>>,
    thread: std::thread::JoinHandle<Result<ArrowWriter<File>>>,
}

impl<T: Serialize + DeserializeOwned + Send + 'static> TableWriter<T> {
    /// A table of [`BATCH_ROWS`]-row row groups.
    pub fn create(path: &Path) -> Result<Self> {
        Self::with_batch_rows(path, BATCH_ROWS)
    }

    /// A table of `batch_rows`-row row groups: for a caller that keeps several writers open
    /// at once and shares one batch's memory between them.
    pub fn with_batch_rows(path: &Path, batch_rows: usize) -> Result<Self> {
        let batch_rows = batch_rows.max(1);
        let fields = fields::<T>()?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_owned(), source })?;
        let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&tmp).map_err(|source| Error::Io { path: tmp.clone(), source })?;
        let schema = empty_batch(&fields, path)?.schema();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(batch_rows))
            .build();
        let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| table_error(path, e))?;
        let (batches, received) = std::sync::mpsc::sync_channel::<Vec<T>>(0);
        let target = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("table-encoder".into())
            .spawn(move || {
                for rows in received {
                    let batch = serde_arrow::to_record_batch(&fields, &rows).map_err(|e| table_error(&target, e))?;
                    writer.write(&batch).map_err(|e| table_error(&target, e))?;
                }
                Ok(writer)
            })
            .map_err(|source| Error::Io { path: path.to_owned(), source })?;
        Ok(Self {
            path: path.to_owned(),
            tmp,
            encoder: Some(Encoder { batches, thread }),
            pending: Vec::with_capacity(batch_rows),
            batch_rows,
            rows: 0,
        })
    }

    pub fn push(&mut self, row: T) -> Result<()> {
        self.pending.push(row);
        if self.pending.len() >= self.batch_rows {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::replace(&mut self.pending, Vec::with_capacity(self.batch_rows));
        self.rows += rows.len() as u64;
        let encoder = self.encoder.take().ok_or_else(|| table_error(&self.path, "writer already finished"))?;
        match encoder.batches.send(rows) {
            Ok(()) => {
                self.encoder = Some(encoder);
                Ok(())
            }
            // The encoder stopped on an error: it is the one to report.
            Err(_) => encoder.finish(&self.path).map(drop),
        }
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.rows + self.pending.len() as u64
    }

    /// Writes what is pending, closes the file, syncs it and renames it over the target.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()?;
        let encoder = self.encoder.take().ok_or_else(|| table_error(&self.path, "writer already finished"))?;
        let writer = encoder.finish(&self.path)?;
        let file = writer.into_inner().map_err(|e| table_error(&self.path, e))?;
        file.sync_all().map_err(|source| Error::Io { path: self.tmp.clone(), source })?;
        std::fs::rename(&self.tmp, &self.path).map_err(|source| Error::Io { path: self.path.clone(), source })?;
        Ok(self.rows)
    }
}

impl<T> Encoder<T> {
    /// Ends the stream of batches and waits for the last one to be written.
    fn finish(self, path: &Path) -> Result<ArrowWriter<File>> {
        drop(self.batches);
        self.thread.join().map_err(|_| table_error(path, "the encoder thread panicked"))?
    }
}

impl<T> Drop for TableWriter<T> {
    /// An unfinished or failed table leaves no file behind (the previous version, if any,
    /// stays); after [`TableWriter::finish`] renamed it, there is nothing left to remove.
    fn drop(&mut self) {
        if let Some(encoder) = self.encoder.take() {
            let _ = encoder.finish(&self.path);
        }
        let _ = std::fs::remove_file(&self.tmp);
    }
}

fn empty_batch(fields: &[FieldRef], path: &Path) -> Result<RecordBatch> {
    let mut builder = serde_arrow::ArrayBuilder::from_arrow(fields).map_err(|e| table_error(path, e))?;
    builder.to_record_batch().map_err(|e| table_error(path, e))
}

/// The Parquet footer of `path`, read: its schema and metadata, and the builder of its reader.
fn open_footer(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| table_error(path, e))
}

/// Writes all `rows` to `path` atomically; returns the row count.
pub fn write_all<T: Serialize + DeserializeOwned + Send + 'static>(
    path: &Path,
    rows: impl IntoIterator<Item = T>,
) -> Result<u64> {
    let mut writer = TableWriter::create(path)?;
    for row in rows {
        writer.push(row)?;
    }
    writer.finish()
}

/// Reads a table batch by batch. A reader thread decodes the next batch (Parquet, then serde)
/// while the caller works on this one.
#[derive(Debug)]
pub struct TableReader<T> {
    path: PathBuf,
    schema: SchemaRef,
    batches: std::sync::mpsc::Receiver<Result<Vec<T>>>,
    /// Joined when the batches end, so that a reader that died is an error, not an early end.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<T: DeserializeOwned + Send + 'static> TableReader<T> {
    /// Opens `path`, reading only `columns` when given (the others must be optional in `T`,
    /// or absent from it), in batches of [`BATCH_ROWS`] rows.
    pub fn open(path: &Path, columns: Option<&[&str]>) -> Result<Self> {
        Self::with_batch_rows(path, columns, BATCH_ROWS)
    }

    /// [`TableReader::open`] in batches of `batch_rows` rows.
    pub fn with_batch_rows(path: &Path, columns: Option<&[&str]>, batch_rows: usize) -> Result<Self> {
        let mut builder = open_footer(path)?;
        if let Some(columns) = columns {
            let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        let reader = builder.with_batch_size(batch_rows.max(1)).build().map_err(|e| table_error(path, e))?;
        let schema = arrow_array::RecordBatchReader::schema(&reader);
        let (sender, batches) = std::sync::mpsc::sync_channel(0);
        let source = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("table-reader".into())
            .spawn(move || {
                for batch in reader {
                    let rows = batch.map_err(|e| table_error(&source, e)).and_then(|b| {
                        serde_arrow::from_record_batch::<Vec<T>>(&b).map_err(|e| table_error(&source, e))
                    });
                    let failed = rows.is_err();
                    // A closed channel: the caller stopped reading.
                    if sender.send(rows).is_err() || failed {
                        break;
                    }
                }
            })
            .map_err(|source| Error::Io { path: path.to_owned(), source })?;
        Ok(Self { path: path.to_owned(), schema, batches, thread: Some(thread) })
    }

    /// The schema of the rows read.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl<T> Iterator for TableReader<T> {
    type Item = Result<Vec<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.batches.recv() {
            Ok(batch) => Some(batch),
            Err(_) => match self.thread.take()?.join() {
                Ok(()) => None,
                Err(_) => Some(Err(table_error(&self.path, "the reader thread panicked"))),
            },
        }
    }
}

/// Reads every row of a table (for small tables and tests).
pub fn read_all<T: DeserializeOwned + Send + 'static>(path: &Path) -> Result<Vec<T>> {
    let mut rows = Vec::new();
    for batch in TableReader::<T>::open(path, None)? {
        rows.extend(batch?);
    }
    Ok(rows)
}

/// The number of rows of a table, from its footer.
pub fn row_count(path: &Path) -> Result<u64> {
    Ok(u64::try_from(open_footer(path)?.metadata().file_metadata().num_rows()).unwrap_or(0))
}

/// The schema a record type is written with (for checking a file against it).
pub fn schema_of<T: Serialize + DeserializeOwned>() -> Result<SchemaRef> {
    let fields = fields::<T>()?;
    Ok(empty_batch(&fields, Path::new(std::any::type_name::<T>()))?.schema())
}

/// Whether the table at `path` was written with `T`'s current schema.
pub fn has_schema_of<T: Serialize + DeserializeOwned>(path: &Path) -> Result<bool> {
    // The footer is enough: no reader thread, no batch decoded.
    let found = open_footer(path)?.schema().clone();
    let expected = schema_of::<T>()?;
    Ok(found.fields().len() == expected.fields().len()
        && found
            .fields()
            .iter()
            .zip(expected.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type()))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Row {
        id: String,
        size: u64,
        note: Option<String>,
        tags: Vec<String>,
    }

    #[test]
    fn round_trip_in_batches_and_projection() {
        #[derive(Deserialize)]
        struct Id {
            id: String,
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rows.parquet");
        let rows: Vec<Row> = (0..BATCH_ROWS as u64 * 2 + 5)
            .map(|i| Row {
                id: format!("{i:064x}"),
                size: i,
                note: (i % 3 == 0).then(|| "x".into()),
                tags: vec!["a".into(); (i % 4) as usize],
            })
            .collect();
        assert_eq!(write_all(&path, rows.clone()).expect("write"), rows.len() as u64);
        assert_eq!(read_all::<Row>(&path).expect("read"), rows);
        assert_eq!(row_count(&path).expect("count"), rows.len() as u64);
        let ids: Vec<String> = TableReader::<Id>::open(&path, Some(&["id"]))
            .expect("open")
            .flat_map(|b| b.expect("batch"))
            .map(|r| r.id)
            .collect();
        assert_eq!(ids.len(), rows.len());
        assert!(has_schema_of::<Row>(&path).expect("schema"));
    }

    #[test]
    fn batch_rows_set_the_row_groups_written_and_the_batches_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rows.parquet");
        let mut writer = TableWriter::<Row>::with_batch_rows(&path, 100).expect("create");
        for i in 0..250 {
            writer.push(Row { id: i.to_string(), size: i, note: None, tags: vec![] }).expect("push");
        }
        assert_eq!(writer.finish().expect("finish"), 250);
        let footer = open_footer(&path).expect("footer");
        let groups: Vec<i64> =
            footer.metadata().row_groups().iter().map(parquet::file::metadata::RowGroupMetaData::num_rows).collect();
        assert_eq!(groups, [100, 100, 50]);
        let batches: Vec<usize> = TableReader::<Row>::with_batch_rows(&path, None, 30)
            .expect("open")
            .map(|b| b.expect("batch").len())
            .collect();
        assert_eq!(batches.iter().sum::<usize>(), 250);
        assert!(batches.iter().all(|&n| n <= 30), "{batches:?}");
    }

    #[test]
    fn an_unfinished_writer_leaves_the_previous_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rows.parquet");
        write_all(&path, [Row { id: "a".into(), size: 1, note: None, tags: vec![] }]).expect("write");
        {
            let mut writer = TableWriter::<Row>::create(&path).expect("create");
            writer.push(Row { id: "b".into(), size: 2, note: None, tags: vec![] }).expect("push");
        }
        assert_eq!(read_all::<Row>(&path).expect("read").len(), 1);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "no temporary file left");
    }

    #[test]
    fn empty_tables_have_the_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.parquet");
        assert_eq!(write_all::<Row>(&path, []).expect("write"), 0);
        assert!(read_all::<Row>(&path).expect("read").is_empty());
        assert!(has_schema_of::<Row>(&path).expect("schema"));
    }
}
