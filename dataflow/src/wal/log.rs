//! The segmented log itself: record framing, recovery of the segments on disk, and
//! group-committed appends (leader/follower: whoever finds no flush in progress writes and
//! fsyncs everything queued so far, and the others wait for it).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex, MutexGuard};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{FsyncPolicy, RecoveryReport, WalConfig, WalError};

/// Bytes of the frame header: payload length and payload checksum.
pub(crate) const FRAME_HEADER: usize = 8;
/// Bytes of the version that starts every payload.
const VERSION_BYTES: usize = 8;
/// The largest payload the u32 length field can describe.
const MAX_PAYLOAD: usize = u32::MAX as usize;
/// Name of the file `open` creates and removes to find out early whether the directory is
/// writable, rather than at the first append.
const PROBE_FILE: &str = ".wal-write-probe";

/// The file name of the segment whose name version is `version`.
pub(crate) fn segment_file_name(version: u64) -> String {
    format!("wal-{version:020}.log")
}

/// The name version of a segment file name, or `None` for any other file.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Serialises one record into a complete frame.
pub(crate) fn encode_frame<R: Serialize>(dir: &Path, version: u64, record: &R) -> Result<Vec<u8>, WalError> {
    let mut buf = Vec::with_capacity(128);
    buf.extend_from_slice(&[0u8; FRAME_HEADER]);
    buf.extend_from_slice(&version.to_le_bytes());
    serde_json::to_writer(&mut buf, record)
        .map_err(|e| WalError::Encode { path: dir.to_path_buf(), reason: e.to_string() })?;
    let payload_len = buf.len() - FRAME_HEADER;
    let len = u32::try_from(payload_len).map_err(|_| WalError::RecordTooLarge {
        path: dir.to_path_buf(),
        bytes: payload_len,
        max: MAX_PAYLOAD,
    })?;
    let crc = crc32fast::hash(&buf[FRAME_HEADER..]);
    buf[0..4].copy_from_slice(&len.to_le_bytes());
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(buf)
}

/// What reading one segment's bytes found.
pub(crate) struct Scanned<R> {
    /// Good records, in file order.
    pub(crate) records: Vec<(u64, R)>,
    /// Bytes up to the end of the last good record.
    pub(crate) good_len: u64,
    /// Offset of the first bad record and why it is bad.
    pub(crate) bad: Option<(u64, String)>,
}

/// Decodes frames from the start of `bytes` until the end or the first bad frame.
pub(crate) fn scan_segment<R: DeserializeOwned>(bytes: &[u8]) -> Scanned<R> {
    let mut records = Vec::new();
    let mut offset = 0usize;
    let bad = loop {
        let rest = &bytes[offset..];
        if rest.is_empty() {
            break None;
        }
        if rest.len() < FRAME_HEADER {
            break Some(format!("short record header: {} of {FRAME_HEADER} bytes", rest.len()));
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let stored_crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len < VERSION_BYTES {
            break Some(format!("payload length {len} is shorter than the {VERSION_BYTES}-byte version"));
        }
        let available = rest.len() - FRAME_HEADER;
        if available < len {
            break Some(format!("short payload: header says {len} bytes, {available} present"));
        }
        let payload = &rest[FRAME_HEADER..FRAME_HEADER + len];
        let crc = crc32fast::hash(payload);
        if crc != stored_crc {
            break Some(format!("checksum mismatch: stored {stored_crc:08x}, computed {crc:08x}"));
        }
        let mut version_bytes = [0u8; VERSION_BYTES];
        version_bytes.copy_from_slice(&payload[..VERSION_BYTES]);
        let version = u64::from_le_bytes(version_bytes);
        match serde_json::from_slice::<R>(&payload[VERSION_BYTES..]) {
            Ok(record) => records.push((version, record)),
            Err(e) => break Some(format!("undecodable payload for version {version}: {e}")),
        }
        offset += FRAME_HEADER + len;
    };
    Scanned { records, good_len: offset as u64, bad: bad.map(|reason| (offset as u64, reason)) }
}

/// fsyncs a directory so that file creations, renames and removals in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| WalError::io(dir, e))
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened as files elsewhere; their metadata is durable with
        // the file operations themselves.
        let _ = dir;
        Ok(())
    }
}

/// The segment files on disk, sorted by name version.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| WalError::io(dir, e))? {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match parse_segment_name(name) {
            Some(version) => segments.push((version, entry.path())),
            None if name.starts_with("wal-") => {
                tracing::warn!(path = %entry.path().display(), "ignoring a file that looks like a WAL segment but is not named like one");
            }
            None => {}
        }
    }
    segments.sort();
    Ok(segments)
}

/// One segment file.
#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// The version in the file name.
    name_version: u64,
    /// Largest version in the segment (None while empty).
    max_version: Option<u64>,
    /// Bytes written to it.
    bytes: u64,
}

/// The segment list and the open handle of the last segment; only the flush leader and
/// `truncate_through` touch it.
struct Writer {
    segments: Vec<Segment>,
    /// Open (append mode) on `segments.last()`; None until the first segment exists.
    active: Option<File>,
}

/// One encoded record waiting to be written.
struct Frame {
    version: u64,
    bytes: Vec<u8>,
}

/// Group-commit bookkeeping. Every `append`/`append_batch` call gets a sequence number;
/// `written_seq`/`synced_seq` say up to which call everything is written/fsynced.
struct State {
    pending: Vec<Frame>,
    next_seq: u64,
    written_seq: u64,
    synced_seq: u64,
    /// A leader is writing (without this lock held).
    flushing: bool,
    /// Set by the first failed write or fsync; refuses everything after it.
    poisoned: Option<String>,
}

/// What all handles and the batch flusher share.
struct Shared {
    dir: PathBuf,
    policy: FsyncPolicy,
    segment_bytes: u64,
    state: Mutex<State>,
    cond: Condvar,
    writer: Mutex<Writer>,
    fsyncs: AtomicU64,
    /// Test hook: fail the next fsync as if the disk had.
    #[cfg(test)]
    fail_next_fsync: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn poisoned_error(&self, reason: &str) -> WalError {
        WalError::Poisoned { path: self.dir.clone(), reason: reason.to_string() }
    }

    /// fsyncs a segment file (data and the size metadata needed to read it back).
    fn fsync_file(&self, file: &File, path: &Path) -> Result<(), WalError> {
        #[cfg(test)]
        if self.fail_next_fsync.swap(false, Ordering::SeqCst) {
            return Err(WalError::io(path, io::Error::other("injected fsync failure")));
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        file.sync_data().map_err(|e| WalError::io(path, e))
    }

    fn fsync_dir(&self) -> Result<(), WalError> {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        sync_dir(&self.dir)
    }

    /// Waits until call `target` is written (and fsynced if `need_sync`), leading a flush
    /// whenever none is in progress. Takes the state lock in and returns with it released.
    fn wait_for(&self, mut st: MutexGuard<'_, State>, target: u64, need_sync: bool) -> Result<(), WalError> {
        loop {
            if let Some(reason) = &st.poisoned {
                return Err(self.poisoned_error(reason));
            }
            let done = if need_sync { st.synced_seq >= target } else { st.written_seq >= target };
            if done {
                return Ok(());
            }
            if st.flushing {
                self.cond.wait(&mut st);
                continue;
            }
            // Lead: take everything queued so far, so one write and one fsync cover all the
            // callers that arrived while the previous leader was busy.
            st.flushing = true;
            let frames = std::mem::take(&mut st.pending);
            let upto = st.next_seq;
            let fsync = need_sync || self.policy == FsyncPolicy::Always;
            let result = MutexGuard::unlocked(&mut st, || self.flush(&frames, fsync));
            st.flushing = false;
            match result {
                Ok(()) => {
                    st.written_seq = upto;
                    if fsync {
                        // The fsync covers the active file; earlier segments were fsynced
                        // when they were closed.
                        st.synced_seq = upto;
                    }
                    self.cond.notify_all();
                }
                Err(e) => {
                    // A failed write may have left a partial frame and a failed fsync may have
                    // dropped dirty pages: nothing after this can be trusted until reopen.
                    st.poisoned = Some(e.to_string());
                    self.cond.notify_all();
                    return Err(e);
                }
            }
        }
    }

    /// Writes `frames` in order, rolling to new segments as they fill, then fsyncs if asked.
    fn flush(&self, frames: &[Frame], fsync: bool) -> Result<(), WalError> {
        let mut w = self.writer.lock();
        let mut buf: Vec<u8> = Vec::with_capacity(frames.iter().map(|f| f.bytes.len()).sum());
        let mut buf_max: Option<u64> = None;
        for frame in frames {
            let active_bytes = w.segments.last().filter(|_| w.active.is_some()).map(|s| s.bytes);
            let roll = match active_bytes {
                None => true,
                Some(bytes) => bytes + buf.len() as u64 >= self.segment_bytes,
            };
            if roll {
                self.write_active(&mut w, &mut buf, &mut buf_max)?;
                if let (Some(file), Some(seg)) = (&w.active, w.segments.last()) {
                    // Close the full segment durably, so only the last one can be torn.
                    self.fsync_file(file, &seg.path)?;
                }
                self.open_segment(&mut w, frame.version)?;
            }
            buf.extend_from_slice(&frame.bytes);
            buf_max = Some(buf_max.map_or(frame.version, |m| m.max(frame.version)));
        }
        self.write_active(&mut w, &mut buf, &mut buf_max)?;
        if fsync {
            if let (Some(file), Some(seg)) = (&w.active, w.segments.last()) {
                self.fsync_file(file, &seg.path)?;
            }
        }
        Ok(())
    }

    /// Writes `buf` to the active segment and clears it.
    fn write_active(&self, w: &mut Writer, buf: &mut Vec<u8>, buf_max: &mut Option<u64>) -> Result<(), WalError> {
        if buf.is_empty() {
            return Ok(());
        }
        let Writer { segments, active } = w;
        let (Some(file), Some(seg)) = (active.as_mut(), segments.last_mut()) else {
            // flush opens a segment before buffering its first frame.
            return Err(self.poisoned_error("internal: bytes to write but no open segment"));
        };
        file.write_all(buf).map_err(|e| WalError::io(&seg.path, e))?;
        seg.bytes += buf.len() as u64;
        if let Some(m) = buf_max.take() {
            seg.max_version = Some(seg.max_version.map_or(m, |old| old.max(m)));
        }
        buf.clear();
        Ok(())
    }

    /// Creates the next segment, named after `first_version` but always after its
    /// predecessor so that name order stays creation order even if versions arrive out of
    /// order, and makes its directory entry durable.
    fn open_segment(&self, w: &mut Writer, first_version: u64) -> Result<(), WalError> {
        let name_version = match w.segments.last() {
            Some(last) => first_version.max(last.name_version.saturating_add(1)),
            None => first_version,
        };
        let path = self.dir.join(segment_file_name(name_version));
        let file = OpenOptions::new().create_new(true).append(true).open(&path).map_err(|e| WalError::io(&path, e))?;
        w.segments.push(Segment { path, name_version, max_version: None, bytes: 0 });
        w.active = Some(file);
        self.fsync_dir()
    }
}

/// Stops the batch flusher thread when dropped.
struct Flusher {
    stop: Option<Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

/// A write-ahead log of `(version, R)` records. `Send + Sync`: share it (e.g. in an `Arc`)
/// and append from many threads; concurrent appends are group-committed.
pub struct Wal<R> {
    shared: Arc<Shared>,
    flusher: Flusher,
    _records: PhantomData<fn(R) -> R>,
}

impl<R> fmt::Debug for Wal<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .field("policy", &self.shared.policy)
            .field("segment_bytes", &self.shared.segment_bytes)
            .finish_non_exhaustive()
    }
}

impl<R: Serialize + DeserializeOwned + Send + 'static> Wal<R> {
    /// Opens (creating if needed) the log in `config.dir`; returns it with the records found,
    /// sorted by version (stable, so equal versions keep log order), for replay, and a report
    /// of what recovery did. A damaged tail of the last segment is cut off and reported; a
    /// damaged record in an earlier segment is [`WalError::Corrupt`]. An unusable directory
    /// (missing permissions, read-only, a file in its place) is [`WalError::Io`].
    #[allow(clippy::type_complexity)] // the tuple is the agreed API; an alias would only hide it
    pub fn open(config: WalConfig) -> Result<(Wal<R>, Vec<(u64, R)>, RecoveryReport), WalError> {
        let WalConfig { dir, fsync: policy, segment_bytes } = config;
        if segment_bytes == 0 {
            return Err(WalError::Config { path: dir, reason: "segment_bytes must be non-zero".into() });
        }
        let interval = match policy {
            FsyncPolicy::Batch { interval } if interval.is_zero() => {
                return Err(WalError::Config { path: dir, reason: "the batch fsync interval must be non-zero".into() });
            }
            FsyncPolicy::Batch { interval } => Some(interval),
            FsyncPolicy::Always | FsyncPolicy::Never => None,
        };
        fs::create_dir_all(&dir).map_err(|e| WalError::io(&dir, e))?;
        probe_writable(&dir)?;

        let mut report = RecoveryReport::default();
        let mut records: Vec<(u64, R)> = Vec::new();
        let mut segments = Vec::new();
        let on_disk = list_segments(&dir)?;
        for (i, (name_version, path)) in on_disk.iter().enumerate() {
            let is_last = i + 1 == on_disk.len();
            let bytes = fs::read(path).map_err(|e| WalError::io(path, e))?;
            let scanned = scan_segment::<R>(&bytes);
            if let Some((offset, reason)) = scanned.bad {
                if !is_last {
                    return Err(WalError::Corrupt { path: path.clone(), offset, reason });
                }
                let cut = bytes.len() as u64 - offset;
                tracing::warn!(
                    path = %path.display(),
                    offset,
                    truncated_bytes = cut,
                    reason = %reason,
                    "WAL: torn or corrupt tail in the last segment; truncating it after the last good record"
                );
                truncate_file(path, offset)?;
                report.truncated_bytes = cut;
                report.corrupt_at = Some((path.clone(), offset));
                report.message = Some(format!(
                    "{}: bad record at byte offset {offset} ({reason}); cut {cut} bytes, kept {} records before it",
                    path.display(),
                    scanned.records.len()
                ));
            }
            let max_version = scanned.records.iter().map(|(v, _)| *v).max();
            segments.push(Segment {
                path: path.clone(),
                name_version: *name_version,
                max_version,
                bytes: scanned.good_len,
            });
            records.extend(scanned.records);
        }
        report.segments = on_disk.len();
        report.records = records.len();
        records.sort_by_key(|(v, _)| *v);

        let active = match segments.last() {
            Some(seg) => Some(OpenOptions::new().append(true).open(&seg.path).map_err(|e| WalError::io(&seg.path, e))?),
            None => None,
        };
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            policy,
            segment_bytes,
            state: Mutex::new(State {
                pending: Vec::new(),
                next_seq: 0,
                written_seq: 0,
                synced_seq: 0,
                flushing: false,
                poisoned: None,
            }),
            cond: Condvar::new(),
            writer: Mutex::new(Writer { segments, active }),
            fsyncs: AtomicU64::new(0),
            #[cfg(test)]
            fail_next_fsync: std::sync::atomic::AtomicBool::new(false),
        });
        let flusher = match interval {
            Some(interval) => spawn_flusher(&shared, interval)?,
            None => Flusher { stop: None, handle: None },
        };
        Ok((Wal { shared, flusher, _records: PhantomData }, records, report))
    }

    /// Appends one record. With [`FsyncPolicy::Always`] it returns only once an fsync covering
    /// the record has completed (concurrent callers share that write and fsync); otherwise once
    /// the record is written to the OS. After a failed write or fsync this and every later
    /// call fails ([`WalError::Io`] for the call that hit it, [`WalError::Poisoned`] after).
    pub fn append(&self, version: u64, record: &R) -> Result<(), WalError> {
        let frame = Frame { version, bytes: encode_frame(&self.shared.dir, version, record)? };
        self.enqueue(vec![frame])
    }

    /// Appends several records as one unit: they are written together, in order, before one
    /// fsync (with [`FsyncPolicy::Always`]). A crash can still keep a prefix of them (a torn
    /// tail is cut at a record boundary), so callers that need all-or-nothing must check.
    pub fn append_batch(&self, records: &[(u64, R)]) -> Result<(), WalError> {
        let frames = records
            .iter()
            .map(|(version, record)| {
                Ok(Frame { version: *version, bytes: encode_frame(&self.shared.dir, *version, record)? })
            })
            .collect::<Result<Vec<_>, WalError>>()?;
        self.enqueue(frames)
    }

    fn enqueue(&self, frames: Vec<Frame>) -> Result<(), WalError> {
        let shared = &self.shared;
        let mut st = shared.state.lock();
        if let Some(reason) = &st.poisoned {
            return Err(shared.poisoned_error(reason));
        }
        if frames.is_empty() {
            return Ok(());
        }
        st.pending.extend(frames);
        st.next_seq += 1;
        let target = st.next_seq;
        shared.wait_for(st, target, shared.policy == FsyncPolicy::Always)
    }

    /// Deletes every segment, other than the one being appended to, whose records all have
    /// versions `<= version` (call it after a snapshot covering them is durable). Returns how
    /// many segments were deleted.
    pub fn truncate_through(&self, version: u64) -> Result<usize, WalError> {
        let shared = &self.shared;
        let mut w = shared.writer.lock();
        let mut deleted = 0;
        let mut i = 0;
        let mut result = Ok(());
        // The last segment stays: it is the one appends go to (or will, after a reopen).
        while i + 1 < w.segments.len() {
            let seg = &w.segments[i];
            if seg.max_version.is_some_and(|m| m > version) {
                i += 1;
                continue;
            }
            match fs::remove_file(&seg.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    result = Err(WalError::io(&seg.path, e));
                    break;
                }
            }
            w.segments.remove(i);
            deleted += 1;
        }
        if deleted > 0 {
            // A removal lost to a crash only brings back records the snapshot covers, but make
            // it durable anyway so the directory matches what we reported.
            let synced = shared.fsync_dir();
            result = result.and(synced);
        }
        result.map(|()| deleted)
    }

    /// Writes anything queued and fsyncs the active segment (use at clean shutdown, or to make
    /// `Batch`/`Never` appends durable now).
    pub fn sync(&self) -> Result<(), WalError> {
        let st = self.shared.state.lock();
        let target = st.next_seq;
        self.shared.wait_for(st, target, true)
    }
}

impl<R> Wal<R> {
    /// Number of fsyncs (segment files and the directory) issued since `open`. With
    /// group commit under concurrent load it is much smaller than the number of appends.
    pub fn fsync_count(&self) -> u64 {
        self.shared.fsyncs.load(Ordering::Relaxed)
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The fsync policy the log was opened with.
    pub fn policy(&self) -> FsyncPolicy {
        self.shared.policy
    }

    /// Paths of the segment files, oldest first.
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.shared.writer.lock().segments.iter().map(|s| s.path.clone()).collect()
    }

    /// Makes the next fsync fail, for tests of the poisoning path.
    #[cfg(test)]
    pub(crate) fn fail_next_fsync(&self) {
        self.shared.fail_next_fsync.store(true, Ordering::SeqCst);
    }
}

impl<R> Drop for Wal<R> {
    fn drop(&mut self) {
        // Closing the channel wakes the flusher at once; it does a final fsync and exits.
        self.flusher.stop.take();
        if let Some(handle) = self.flusher.handle.take() {
            if handle.join().is_err() {
                tracing::error!(dir = %self.shared.dir.display(), "WAL batch flusher thread panicked");
            }
        }
    }
}

/// Creates and removes a probe file so an unwritable directory fails `open`, not the first
/// append.
fn probe_writable(dir: &Path) -> Result<(), WalError> {
    let probe = dir.join(PROBE_FILE);
    OpenOptions::new().create(true).truncate(true).write(true).open(&probe).map_err(|e| WalError::io(&probe, e))?;
    fs::remove_file(&probe).map_err(|e| WalError::io(&probe, e))
}

/// Cuts a segment at `len` bytes and makes the new size durable.
fn truncate_file(path: &Path, len: u64) -> Result<(), WalError> {
    let file = OpenOptions::new().write(true).open(path).map_err(|e| WalError::io(path, e))?;
    file.set_len(len).map_err(|e| WalError::io(path, e))?;
    file.sync_all().map_err(|e| WalError::io(path, e))
}

/// Starts the thread that fsyncs every `interval` under [`FsyncPolicy::Batch`].
fn spawn_flusher(shared: &Arc<Shared>, interval: std::time::Duration) -> Result<Flusher, WalError> {
    let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
    let shared = Arc::clone(shared);
    let dir = shared.dir.clone();
    let handle = std::thread::Builder::new()
        .name("wal-flusher".into())
        .spawn(move || loop {
            let last_round = match stopped.recv_timeout(interval) {
                Err(RecvTimeoutError::Timeout) => false,
                Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
            };
            let st = shared.state.lock();
            if st.poisoned.is_some() {
                return;
            }
            if st.synced_seq < st.written_seq || st.written_seq < st.next_seq {
                let target = st.next_seq;
                if let Err(e) = shared.wait_for(st, target, true) {
                    tracing::error!(error = %e, "WAL batch fsync failed; the log refuses further appends");
                    return;
                }
            }
            if last_round {
                return;
            }
        })
        .map_err(|e| WalError::io(&dir, e))?;
    Ok(Flusher { stop: Some(stop), handle: Some(handle) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(segment_file_name(42), "wal-00000000000000000042.log");
        assert_eq!(parse_segment_name("wal-00000000000000000042.log"), Some(42));
        assert_eq!(parse_segment_name(&segment_file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("wal-42.log"), None);
        assert_eq!(parse_segment_name("wal-0000000000000000004x.log"), None);
        assert_eq!(parse_segment_name("snapshot-00000000000000000042.bin"), None);
    }

    #[test]
    fn frames_decode_and_damage_is_located() {
        let d = Path::new("/nowhere");
        let mut bytes = encode_frame(d, 7, &"seven".to_string()).unwrap();
        let first_len = bytes.len();
        bytes.extend(encode_frame(d, 8, &"eight".to_string()).unwrap());
        let ok = scan_segment::<String>(&bytes);
        assert_eq!(ok.records, vec![(7, "seven".to_string()), (8, "eight".to_string())]);
        assert!(ok.bad.is_none());
        assert_eq!(ok.good_len, bytes.len() as u64);

        for cut in [first_len + 3, first_len + FRAME_HEADER + 2, bytes.len() - 1] {
            let s = scan_segment::<String>(&bytes[..cut]);
            assert_eq!(s.records.len(), 1, "cut at {cut}");
            assert_eq!(s.bad.as_ref().map(|b| b.0), Some(first_len as u64));
        }
        let mut flipped = bytes.clone();
        flipped[first_len + FRAME_HEADER + 9] ^= 0x40;
        let s = scan_segment::<String>(&flipped);
        assert!(s.bad.as_ref().is_some_and(|(o, r)| *o == first_len as u64 && r.contains("checksum")));

        // A valid checksum over a payload of the wrong type is undecodable, hence bad.
        let s = scan_segment::<u32>(&bytes);
        assert!(s.bad.as_ref().is_some_and(|(o, r)| *o == 0 && r.contains("undecodable")));

        // A zero-filled tail (a page the crash never wrote) is bad at its start.
        let mut zeroed = bytes.clone();
        zeroed.extend([0u8; 32]);
        let s = scan_segment::<String>(&zeroed);
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.bad.map(|b| b.0), Some(bytes.len() as u64));
    }

    #[test]
    fn failed_fsync_poisons_the_log() {
        let d = dir();
        let (wal, _, _) = Wal::<String>::open(WalConfig::new(d.path())).unwrap();
        wal.append(1, &"one".into()).unwrap();
        wal.fail_next_fsync();
        let err = wal.append(2, &"two".into()).unwrap_err();
        assert!(matches!(err, WalError::Io { .. }), "{err}");
        assert!(err.path().starts_with(d.path()));
        let err = wal.append(3, &"three".into()).unwrap_err();
        assert!(matches!(err, WalError::Poisoned { .. }), "{err}");
        assert!(err.to_string().contains("injected fsync failure"), "{err}");
        assert!(matches!(wal.sync(), Err(WalError::Poisoned { .. })));
        drop(wal);
        // Reopening recovers what reached the file.
        let (_wal, records, _) = Wal::<String>::open(WalConfig::new(d.path())).unwrap();
        assert_eq!(records[0], (1, "one".to_string()));
    }

    #[test]
    fn batch_policy_fsyncs_in_the_background() {
        let d = dir();
        let config = WalConfig {
            fsync: FsyncPolicy::Batch { interval: std::time::Duration::from_millis(5) },
            ..WalConfig::new(d.path())
        };
        let (wal, _, _) = Wal::<u64>::open(config).unwrap();
        wal.append(1, &1).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let st = wal.shared.state.lock();
            if st.synced_seq >= 1 {
                break;
            }
            drop(st);
            assert!(std::time::Instant::now() < deadline, "the batch flusher never fsynced");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    #[test]
    fn zero_sizes_are_config_errors() {
        let d = dir();
        let config = WalConfig { segment_bytes: 0, ..WalConfig::new(d.path()) };
        assert!(matches!(Wal::<u64>::open(config), Err(WalError::Config { .. })));
        let config =
            WalConfig { fsync: FsyncPolicy::Batch { interval: std::time::Duration::ZERO }, ..WalConfig::new(d.path()) };
        assert!(matches!(Wal::<u64>::open(config), Err(WalError::Config { .. })));
    }
}
