//! [`select`]: which embedder a process uses, from `--embedder auto|hashing|static|minilm`
//! and the model files present.
//!
//! # Notes
//! `auto` takes the best embedder whose files are present: the distilled static model, else
//! MiniLM (model directory complete), else hashing — and says which and why in
//! [`Selected::reason`], which the binaries print at start-up. A file that is *present but
//! broken* is an error even under `auto`: silently indexing with a worse embedder would hide
//! it. Asking for `static` or `minilm` explicitly without the files is an error naming the
//! missing file and the command that creates it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::minilm::{self, MiniLmConfig, MiniLmEmbedder};
use super::static_model::StaticEmbedder;
use super::{EmbedError, Embedder, HashingEmbedder};

/// Environment variable overriding the MiniLM model directory.
pub const MODEL_DIR_ENV: &str = "LAKEHOUSE_MODEL_DIR";
/// Environment variable overriding the static model file.
pub const STATIC_MODEL_ENV: &str = "LAKEHOUSE_STATIC_MODEL";
/// Default MiniLM model directory (relative to the working directory, i.e. the repository).
pub const DEFAULT_MODEL_DIR: &str = "data/models/all-MiniLM-L6-v2";
/// Default static model file.
pub const DEFAULT_STATIC_MODEL: &str = "data/models/static-minilm-l6-v2.lhs";

/// Which embedder to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedderKind {
    /// The best one whose files are present: static, else MiniLM, else hashing.
    Auto,
    /// Feature hashing (no files).
    Hashing,
    /// The static embedder distilled from MiniLM.
    Static,
    /// all-MiniLM-L6-v2.
    Minilm,
}

impl std::str::FromStr for EmbedderKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(EmbedderKind::Auto),
            "hashing" => Ok(EmbedderKind::Hashing),
            "static" => Ok(EmbedderKind::Static),
            "minilm" => Ok(EmbedderKind::Minilm),
            other => Err(format!("unknown embedder {other:?}: expected auto, hashing, static or minilm")),
        }
    }
}

/// Where the model files live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPaths {
    /// MiniLM directory (`config.json`, `tokenizer.json`, `model.safetensors`).
    pub model_dir: PathBuf,
    /// Static model file.
    pub static_model: PathBuf,
}

impl ModelPaths {
    /// `$LAKEHOUSE_MODEL_DIR` / `$LAKEHOUSE_STATIC_MODEL`, else the defaults under `data/models/`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        ModelPaths {
            model_dir: var(MODEL_DIR_ENV).unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL_DIR)),
            static_model: var(STATIC_MODEL_ENV).unwrap_or_else(|| PathBuf::from(DEFAULT_STATIC_MODEL)),
        }
    }

    /// Whether every MiniLM file is present.
    pub fn minilm_present(&self) -> bool {
        minilm::MODEL_FILES.iter().all(|f| self.model_dir.join(f).is_file())
    }
}

/// The chosen embedder and why.
pub struct Selected {
    /// The embedder.
    pub embedder: Arc<dyn Embedder>,
    /// What was chosen and why, for the start-up line.
    pub reason: String,
}

impl std::fmt::Debug for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selected").field("embedder", &self.embedder.name()).field("reason", &self.reason).finish()
    }
}

/// Picks and loads the embedder. `hashing_dim` is the hashing embedder's dimension;
/// `threads` MiniLM's thread count.
///
/// # Errors
/// [`EmbedError::ModelFile`] naming the file (and the command that makes it) when the
/// requested model is missing or a present one is broken.
pub fn select(
    kind: EmbedderKind,
    paths: &ModelPaths,
    hashing_dim: usize,
    threads: usize,
) -> Result<Selected, EmbedError> {
    let hashing = |why: String| -> Result<Selected, EmbedError> {
        Ok(Selected { embedder: Arc::new(HashingEmbedder::new(hashing_dim)?), reason: why })
    };
    let load_static = |path: &Path| -> Result<Selected, EmbedError> {
        let e = StaticEmbedder::load(path)?;
        let reason = format!("static embedder distilled from MiniLM ({})", path.display());
        Ok(Selected { embedder: Arc::new(e), reason })
    };
    let load_minilm = || -> Result<Selected, EmbedError> {
        let mut config = MiniLmConfig::new(&paths.model_dir);
        config.threads = threads.max(1);
        let e = MiniLmEmbedder::load(&config)?;
        let reason = format!("all-MiniLM-L6-v2 ({}, {} thread(s))", paths.model_dir.display(), config.threads);
        Ok(Selected { embedder: Arc::new(e), reason })
    };
    match kind {
        EmbedderKind::Hashing => hashing(format!("hashing embedder at {hashing_dim} dims (asked for)")),
        EmbedderKind::Static => load_static(&paths.static_model),
        EmbedderKind::Minilm => load_minilm(),
        EmbedderKind::Auto => {
            if paths.static_model.exists() {
                load_static(&paths.static_model).map(|s| Selected { reason: format!("auto: {}", s.reason), ..s })
            } else if paths.minilm_present() {
                load_minilm().map(|s| Selected {
                    reason: format!(
                        "auto: {} — no static model at {} (`lakehouse embed distill` writes it)",
                        s.reason,
                        paths.static_model.display()
                    ),
                    ..s
                })
            } else {
                hashing(format!(
                    "auto: hashing embedder at {hashing_dim} dims — no model files in {} ({})",
                    paths.model_dir.display(),
                    minilm::SETUP_HINT
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_kinds() {
        assert_eq!("auto".parse::<EmbedderKind>(), Ok(EmbedderKind::Auto));
        assert_eq!("minilm".parse::<EmbedderKind>(), Ok(EmbedderKind::Minilm));
        assert!("bert".parse::<EmbedderKind>().unwrap_err().contains("auto, hashing, static or minilm"));
    }

    #[test]
    fn auto_falls_back_to_hashing_and_explicit_choices_fail_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ModelPaths { model_dir: dir.path().join("none"), static_model: dir.path().join("none.lhs") };
        let s = select(EmbedderKind::Auto, &paths, 64, 1).unwrap();
        assert_eq!((s.embedder.name(), s.embedder.dim()), ("hashing-v1", 64));
        assert!(s.reason.contains("scripts/setup-model"), "{}", s.reason);
        let msg = select(EmbedderKind::Minilm, &paths, 64, 1).unwrap_err().to_string();
        assert!(msg.contains("config.json") && msg.contains("missing") && msg.contains("scripts/setup-model"), "{msg}");
        let msg = select(EmbedderKind::Static, &paths, 64, 1).unwrap_err().to_string();
        assert!(msg.contains("none.lhs") && msg.contains("lakehouse embed distill"), "{msg}");
        // A present but broken static file is an error even under auto.
        std::fs::write(&paths.static_model, b"garbage").unwrap();
        let msg = select(EmbedderKind::Auto, &paths, 64, 1).unwrap_err().to_string();
        assert!(msg.contains("bad magic"), "{msg}");
    }
}
