//! Job records on disk: one JSON file per job, `<dir>/<id>.json`, replaced atomically
//! (temporary file, fsync, rename, directory fsync) at every state change.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{JobError, JobId, JobInfo};

/// The job directory.
pub(super) struct JobStore {
    dir: PathBuf,
}

fn store_err(path: &Path, source: std::io::Error) -> JobError {
    JobError::Store { path: path.to_path_buf(), source }
}

impl JobStore {
    /// Create the directory if needed and read every job record in it. A record that cannot
    /// be parsed is moved aside (`.json.corrupt`) with a warning, never silently dropped.
    pub(super) fn open(dir: PathBuf) -> Result<(JobStore, Vec<JobInfo>), JobError> {
        fs::create_dir_all(&dir).map_err(|e| store_err(&dir, e))?;
        let mut jobs = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| store_err(&dir, e))? {
            let path = entry.map_err(|e| store_err(&dir, e))?.path();
            let is_record = path.extension().is_some_and(|e| e == "json")
                && path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("job-"));
            if !is_record {
                continue;
            }
            let parsed = fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| serde_json::from_slice::<JobInfo>(&bytes).map_err(|e| e.to_string()));
            match parsed {
                Ok(info) => jobs.push(info),
                Err(reason) => {
                    tracing::warn!(path = %path.display(), %reason, "unreadable job record moved aside");
                    let aside = path.with_extension("json.corrupt");
                    fs::rename(&path, &aside).map_err(|e| store_err(&path, e))?;
                }
            }
        }
        Ok((JobStore { dir }, jobs))
    }

    fn path(&self, id: &JobId) -> PathBuf {
        self.dir.join(format!("{}.json", id.0))
    }

    /// Write `info` durably.
    pub(super) fn save(&self, info: &JobInfo) -> Result<(), JobError> {
        let path = self.path(&info.id);
        let tmp = self.dir.join(format!(".{}.json.tmp", info.id.0));
        let bytes = serde_json::to_vec_pretty(info).map_err(|e| store_err(&path, std::io::Error::other(e)))?;
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            fs::File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| store_err(&path, e))
    }

    /// Forget a job's record.
    pub(super) fn remove(&self, id: &JobId) -> Result<(), JobError> {
        let path = self.path(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(store_err(&path, e)),
        }
    }
}
