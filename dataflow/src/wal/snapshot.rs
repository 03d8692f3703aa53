//! Atomic, checksummed snapshot files `snapshot-<version:020>.bin`: written to a temporary
//! file in the same directory, fsynced, renamed into place and the directory fsynced, so a
//! crash leaves either the old set of snapshots or the new one, never a half-written file
//! under a snapshot name.
//!
//! File layout: `magic "LKSNAP01" | schema_version u32 LE | version u64 LE |
//! payload_len u64 LE | crc32 u32 LE | payload (serde_json)`, where the checksum covers the
//! three header fields before it and the payload.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::log::sync_dir;
use super::WalError;

const MAGIC: &[u8; 8] = b"LKSNAP01";
/// Magic, schema version, version, payload length, checksum.
const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 4;
/// Where the checksummed header fields start and the checksum itself sits.
const FIELDS: std::ops::Range<usize> = 8..28;
const CRC: std::ops::Range<usize> = 28..32;
/// Temporary files are `.snapshot-<version>.<pid>.<n>.tmp`.
const TMP_PREFIX: &str = ".snapshot-";
const TMP_SUFFIX: &str = ".tmp";

/// Distinguishes temporary files of concurrent writers in one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The file name of the snapshot of `version`.
fn snapshot_file_name(version: u64) -> String {
    format!("snapshot-{version:020}.bin")
}

/// The version of a snapshot file name, or `None` for any other file.
fn parse_snapshot_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("snapshot-")?.strip_suffix(".bin")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn checksum(fields: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(fields);
    hasher.update(payload);
    hasher.finalize()
}

/// A snapshot file's header, once its checksum has been verified.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    schema: u32,
    version: u64,
}

/// Checks magic, length and checksum; returns the header and the payload.
fn verify(bytes: &[u8]) -> Result<(Header, &[u8]), String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!("short header: {} of {HEADER_LEN} bytes", bytes.len()));
    }
    if &bytes[..8] != MAGIC {
        return Err("bad magic: not a Lakehouse snapshot file".into());
    }
    let u32_at = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let schema = u32_at(8);
    let version = u64_at(12);
    let payload_len = u64_at(20);
    let stored_crc = u32_at(CRC.start);
    let present = (bytes.len() - HEADER_LEN) as u64;
    if present != payload_len {
        return Err(format!("payload length mismatch: header says {payload_len} bytes, {present} present"));
    }
    let payload = &bytes[HEADER_LEN..];
    let crc = checksum(&bytes[FIELDS], payload);
    if crc != stored_crc {
        return Err(format!("checksum mismatch: stored {stored_crc:08x}, computed {crc:08x}"));
    }
    Ok((Header { schema, version }, payload))
}

/// Writes `value` as the snapshot of `version` with `schema_version` into `dir` (created if
/// missing), atomically: temporary file, fsync, rename to `snapshot-<version:020>.bin`, fsync
/// of the directory. Replaces an existing snapshot of the same version. Returns its path.
pub fn write_snapshot<T: Serialize>(
    dir: &Path,
    version: u64,
    schema_version: u32,
    value: &T,
) -> Result<PathBuf, WalError> {
    let path = dir.join(snapshot_file_name(version));
    let payload =
        serde_json::to_vec(value).map_err(|e| WalError::Encode { path: path.clone(), reason: e.to_string() })?;
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&schema_version.to_le_bytes());
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let crc = checksum(&bytes[FIELDS], &payload);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes.extend_from_slice(&payload);

    fs::create_dir_all(dir).map_err(|e| WalError::io(dir, e))?;
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{TMP_PREFIX}{version:020}.{}.{n}{TMP_SUFFIX}", std::process::id()));
    let written = (|| -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()
    })()
    .map_err(|e| WalError::io(&tmp, e));
    let renamed = written.and_then(|()| fs::rename(&tmp, &path).map_err(|e| WalError::io(&path, e)));
    if let Err(e) = renamed {
        // Best effort: the temporary file is garbage either way; prune_snapshots also
        // removes leftovers of earlier processes.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)?;
    Ok(path)
}

/// Snapshot files in `dir`, newest first; an empty list if `dir` does not exist.
fn list_snapshots(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(WalError::io(dir, e)),
    };
    let mut snapshots = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        if let Some(version) = entry.file_name().to_str().and_then(parse_snapshot_name) {
            snapshots.push((version, entry.path()));
        }
    }
    snapshots.sort_by(|a, b| b.cmp(a));
    Ok(snapshots)
}

/// Reads and verifies one snapshot file: `Ok(Err(reason))` if it is corrupt.
fn read_verified(path: &Path, name_version: u64) -> Result<Result<(Header, Vec<u8>), String>, WalError> {
    let bytes = fs::read(path).map_err(|e| WalError::io(path, e))?;
    Ok(match verify(&bytes) {
        Ok((header, _)) if header.version != name_version => {
            Err(format!("header version {} does not match the file name", header.version))
        }
        Ok((header, payload)) => Ok((header, payload.to_vec())),
        Err(reason) => Err(reason),
    })
}

/// A verified snapshot file, not yet decoded.
#[derive(Debug)]
pub struct RawSnapshot {
    /// Its version.
    pub version: u64,
    /// The schema version it was written with.
    pub schema: u32,
    /// The file.
    pub path: PathBuf,
    /// The serde_json payload.
    pub payload: Vec<u8>,
}

impl RawSnapshot {
    /// Decodes the payload as `T` ([`WalError::Decode`] naming the file if it does not).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, WalError> {
        serde_json::from_slice(&self.payload)
            .map_err(|e| WalError::Decode { path: self.path.clone(), reason: e.to_string() })
    }
}

/// The newest valid snapshot in `dir` as `(version, value)`; `Ok(None)` if there is none (or
/// no `dir`). A corrupt newest snapshot is skipped with a warning in favour of the previous
/// one; if every snapshot is corrupt the newest one's damage is [`WalError::Corrupt`]. A valid
/// snapshot written with another schema version is [`WalError::SchemaMismatch`], and one
/// that does not decode as `T` is [`WalError::Decode`]: both are errors, never skipped.
pub fn latest_snapshot<T: DeserializeOwned>(dir: &Path, expected_schema: u32) -> Result<Option<(u64, T)>, WalError> {
    match latest_snapshot_raw(dir, &[expected_schema])? {
        Some(raw) => Ok(Some((raw.version, raw.decode()?))),
        None => Ok(None),
    }
}

/// [`latest_snapshot`] for a reader of several schema versions (`schemas`, newest first: a
/// mismatch names the first as expected), leaving the decoding to the caller.
pub fn latest_snapshot_raw(dir: &Path, schemas: &[u32]) -> Result<Option<RawSnapshot>, WalError> {
    let mut first_corrupt: Option<(PathBuf, String)> = None;
    for (version, path) in list_snapshots(dir)? {
        let (header, payload) = match read_verified(&path, version)? {
            Ok(good) => good,
            Err(reason) => {
                tracing::warn!(path = %path.display(), reason = %reason, "corrupt snapshot; falling back to the previous one");
                first_corrupt.get_or_insert((path, reason));
                continue;
            }
        };
        if !schemas.contains(&header.schema) {
            let expected = schemas.first().copied().unwrap_or_default();
            return Err(WalError::SchemaMismatch { path, found: header.schema, expected });
        }
        return Ok(Some(RawSnapshot { version, schema: header.schema, path, payload }));
    }
    match first_corrupt {
        Some((path, reason)) => {
            Err(WalError::Corrupt { path, offset: 0, reason: format!("no valid snapshot remains; newest: {reason}") })
        }
        None => Ok(None),
    }
}

/// The snapshot of `version` in `dir`, verified but not decoded; `Ok(None)` if there is no
/// such file or it is corrupt.
pub fn read_snapshot_raw(dir: &Path, version: u64) -> Result<Option<RawSnapshot>, WalError> {
    let path = dir.join(snapshot_file_name(version));
    if !path.exists() {
        return Ok(None);
    }
    Ok(read_verified(&path, version)?.ok().map(|(header, payload)| RawSnapshot {
        version,
        schema: header.schema,
        path,
        payload,
    }))
}

/// Keeps the `keep` newest *valid* snapshots in `dir` and deletes every snapshot older than
/// the oldest of them (corrupt ones newer than it are left for inspection), plus temporary
/// files left by earlier processes' interrupted writes. With fewer than `keep` valid
/// snapshots nothing is deleted. Returns the number of files removed.
pub fn prune_snapshots(dir: &Path, keep: usize) -> Result<usize, WalError> {
    let snapshots = list_snapshots(dir)?;
    let mut valid = 0;
    let mut cut_at = snapshots.len();
    if keep == 0 {
        cut_at = 0;
    } else {
        for (i, (version, path)) in snapshots.iter().enumerate() {
            if read_verified(path, *version)?.is_ok() {
                valid += 1;
                if valid == keep {
                    cut_at = i + 1;
                    break;
                }
            }
        }
    }
    let mut removed = 0;
    for (_, path) in &snapshots[cut_at..] {
        remove_if_present(path, &mut removed)?;
    }
    removed += remove_stale_temporaries(dir)?;
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

fn remove_if_present(path: &Path, removed: &mut usize) -> Result<(), WalError> {
    match fs::remove_file(path) {
        Ok(()) => {
            *removed += 1;
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(WalError::io(path, e)),
    }
}

/// Removes `.snapshot-*.tmp` files written by other processes (a crash mid-write); this
/// process's own may belong to a write in progress.
fn remove_stale_temporaries(dir: &Path) -> Result<usize, WalError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(WalError::io(dir, e)),
    };
    let own_pid = std::process::id().to_string();
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(inner) = name.strip_prefix(TMP_PREFIX).and_then(|n| n.strip_suffix(TMP_SUFFIX)) else { continue };
        // inner = <version>.<pid>.<n>
        let pid = inner.split('.').nth(1);
        if pid != Some(own_pid.as_str()) {
            remove_if_present(&entry.path(), &mut removed)?;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(snapshot_file_name(9), "snapshot-00000000000000000009.bin");
        assert_eq!(parse_snapshot_name(&snapshot_file_name(9)), Some(9));
        assert_eq!(parse_snapshot_name("snapshot-9.bin"), None);
        assert_eq!(parse_snapshot_name("wal-00000000000000000009.log"), None);
    }

    #[test]
    fn header_damage_is_detected() {
        let d = tempfile::tempdir().unwrap();
        let path = write_snapshot(d.path(), 5, 2, &vec![1u32, 2, 3]).unwrap();
        let bytes = fs::read(&path).unwrap();
        let (header, payload) = verify(&bytes).unwrap();
        assert_eq!(header, Header { schema: 2, version: 5 });
        assert_eq!(payload, b"[1,2,3]");
        // Every single-byte flip, header or payload, is caught.
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(verify(&bad).is_err(), "flip at {i} went unnoticed");
        }
        assert!(verify(&bytes[..bytes.len() - 1]).is_err());
        assert!(verify(&bytes[..10]).is_err());
    }

    #[test]
    fn corrupt_newest_falls_back_and_all_corrupt_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        write_snapshot(d.path(), 1, 1, &"old".to_string()).unwrap();
        let newest = write_snapshot(d.path(), 2, 1, &"new".to_string()).unwrap();
        let mut bytes = fs::read(&newest).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        fs::write(&newest, &bytes).unwrap();
        assert_eq!(latest_snapshot::<String>(d.path(), 1).unwrap(), Some((1, "old".to_string())));
        // prune keeps the newest valid one and everything newer; nothing older exists here.
        assert_eq!(prune_snapshots(d.path(), 1).unwrap(), 0);

        let oldest = d.path().join(snapshot_file_name(1));
        fs::write(&oldest, b"garbage").unwrap();
        let err = latest_snapshot::<String>(d.path(), 1).unwrap_err();
        assert!(matches!(&err, WalError::Corrupt { path, .. } if *path == newest), "{err}");
    }

    #[test]
    fn stale_temporaries_of_other_processes_are_pruned() {
        let d = tempfile::tempdir().unwrap();
        let stale = d.path().join(format!("{TMP_PREFIX}{:020}.999999999.0{TMP_SUFFIX}", 3));
        let own = d.path().join(format!("{TMP_PREFIX}{:020}.{}.0{TMP_SUFFIX}", 3, std::process::id()));
        fs::write(&stale, b"x").unwrap();
        fs::write(&own, b"x").unwrap();
        assert_eq!(prune_snapshots(d.path(), 2).unwrap(), 1);
        assert!(!stale.exists());
        assert!(own.exists());
    }
}
