//! [`MiniLmEmbedder`]: all-MiniLM-L6-v2 sentence embeddings in pure Rust (candle), CPU only,
//! from the model files `scripts/setup-model` unpacks — no model hub, no native library.
//!
//! What sentence-transformers does for this model, step for step: BERT WordPiece tokenizer
//! (`tokenizer.json`, uncased), at most 256 tokens (`sentence_bert_config.json`), the 6-layer
//! BERT encoder, mean pooling of the last hidden states over the attention mask
//! (`1_Pooling/config.json`), L2 normalisation. The output matches sentence-transformers to
//! cosine ≥ 0.9999 (tested against reference vectors in `dataflow/tests/data/`).
//!
//! # Notes
//! `tokenizer.json` ships with fixed padding and truncation at 128 tokens: padding is switched
//! to the longest text of each batch (a short query then costs its own ~10 tokens, not 128)
//! and truncation to 256, the model's `max_seq_length`.
//!
//! Matrix products run on a rayon pool of [`MiniLmConfig::threads`] threads owned by the
//! embedder: on a busy 2-core machine one thread per embedder beats two that fight the
//! dataflow workers for the cores, so the count is explicit rather than "all cores".

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::{EmbedError, Embedder};

/// Name reported by [`MiniLmEmbedder::name`].
pub const NAME: &str = "minilm-l6-v2";
/// Output dimension of all-MiniLM-L6-v2.
pub const DIM: usize = 384;
/// The model's `max_seq_length` (sentence-transformers truncates there).
pub const MAX_TOKENS: usize = 256;
/// The files the embedder reads, relative to the model directory.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
/// What to run when the model files are missing or damaged.
pub const SETUP_HINT: &str = "run scripts/setup-model (or point LAKEHOUSE_MODEL_DIR at a directory it filled)";

/// How to run the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiniLmConfig {
    /// Directory holding `config.json`, `tokenizer.json` and `model.safetensors`.
    pub model_dir: PathBuf,
    /// Threads for the matrix products (at least 1).
    pub threads: usize,
    /// Texts per forward pass in [`Embedder::embed_batch`].
    pub batch_size: usize,
}

impl MiniLmConfig {
    /// One thread, batches of 32.
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        MiniLmConfig { model_dir: model_dir.into(), threads: 1, batch_size: 32 }
    }
}

/// all-MiniLM-L6-v2 on the CPU. Thread-safe: share it behind an `Arc`.
pub struct MiniLmEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    pool: rayon::ThreadPool,
    batch_size: usize,
    model_dir: PathBuf,
}

impl std::fmt::Debug for MiniLmEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLmEmbedder")
            .field("model_dir", &self.model_dir)
            .field("threads", &self.pool.current_num_threads())
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

/// A model-file error naming the file and the setup command.
pub(crate) fn model_error(path: &Path, reason: impl std::fmt::Display) -> EmbedError {
    EmbedError::ModelFile { path: path.to_path_buf(), reason: reason.to_string(), hint: SETUP_HINT }
}

impl MiniLmEmbedder {
    /// Loads the model from `config.model_dir`.
    ///
    /// # Errors
    /// [`EmbedError::ModelFile`] naming the missing or unreadable file and the setup
    /// command; [`EmbedError::Runtime`] if the thread pool cannot start.
    pub fn load(config: &MiniLmConfig) -> Result<Self, EmbedError> {
        let dir = &config.model_dir;
        for name in MODEL_FILES {
            let path = dir.join(name);
            if !path.is_file() {
                return Err(model_error(&path, "missing"));
            }
        }
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|e| model_error(&config_path, e))?;
        let bert: BertConfig = serde_json::from_str(&text).map_err(|e| model_error(&config_path, e))?;
        if bert.hidden_size != DIM {
            return Err(model_error(&config_path, format!("hidden_size {} is not {DIM}", bert.hidden_size)));
        }

        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| model_error(&tok_path, e))?;
        tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..Default::default() }));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| model_error(&tok_path, e))?;

        let weights = dir.join("model.safetensors");
        let model = load_bert(&weights, &bert)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads.max(1))
            .thread_name(|i| format!("minilm-{i}"))
            .build()
            .map_err(|e| EmbedError::Runtime { reason: format!("cannot start the MiniLM thread pool: {e}") })?;
        Ok(MiniLmEmbedder { model, tokenizer, pool, batch_size: config.batch_size.max(1), model_dir: dir.clone() })
    }

    /// The directory the model was loaded from.
    pub fn model_dir(&self) -> &Path {
        &self.model_dir
    }

    /// The tokenizer (as configured: longest-in-batch padding, truncation at 256).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Embeds texts in one forward pass (no batching); errors are candle's or the tokenizer's.
    pub fn try_embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Runtime { reason: format!("tokenizing: {e}") })?;
        let ids: Vec<Vec<u32>> = encodings.iter().map(|e| e.get_ids().to_vec()).collect();
        let mask: Vec<Vec<u32>> = encodings.iter().map(|e| e.get_attention_mask().to_vec()).collect();
        self.pool.install(|| self.forward_pooled(&ids, &mask)).map_err(runtime)
    }

    /// Mean-pooled, L2-normalised last hidden states of pre-tokenised sequences of equal
    /// length (`ids[i]` with mask `mask[i]`).
    pub(crate) fn forward_pooled(&self, ids: &[Vec<u32>], mask: &[Vec<u32>]) -> candle_core::Result<Vec<Vec<f32>>> {
        let device = Device::Cpu;
        let (rows, len) = (ids.len(), ids.first().map_or(0, Vec::len));
        let input = Tensor::from_vec(ids.concat(), (rows, len), &device)?;
        let attention = Tensor::from_vec(mask.concat(), (rows, len), &device)?;
        let types = input.zeros_like()?;
        let hidden = self.model.forward(&input, &types, Some(&attention))?;
        let hidden: Vec<Vec<Vec<f32>>> = hidden.to_dtype(DType::F32)?.to_vec3::<f32>()?;
        Ok(hidden
            .iter()
            .zip(mask)
            .map(|(states, m)| {
                let mut v = vec![0.0f32; DIM];
                let mut n = 0.0f32;
                for (state, &keep) in states.iter().zip(m) {
                    if keep != 0 {
                        v.iter_mut().zip(state).for_each(|(a, x)| *a += x);
                        n += 1.0;
                    }
                }
                if n > 0.0 {
                    v.iter_mut().for_each(|a| *a /= n);
                }
                l2_normalise(&mut v);
                v
            })
            .collect())
    }

    /// Runs `f` on the embedder's thread pool.
    pub(crate) fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }
}

fn runtime(e: candle_core::Error) -> EmbedError {
    EmbedError::Runtime { reason: format!("MiniLM forward pass: {e}") }
}

/// Maps the safetensors file and builds the encoder, with errors naming the file.
fn load_bert(path: &Path, config: &BertConfig) -> Result<BertModel, EmbedError> {
    // Read (not mmap): the workspace denies unsafe code, and 90 MB read once is ~50 ms.
    let bytes = std::fs::read(path).map_err(|e| model_error(path, e))?;
    let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)
        .map_err(|e| model_error(path, format!("not a valid safetensors file: {e}")))?;
    BertModel::load(vb, config).map_err(|e| model_error(path, format!("missing or malformed weights: {e}")))
}

/// Scales `v` to unit L2 norm; leaves an all-zero vector alone.
pub(crate) fn l2_normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    if norm > 0.0 {
        let inv = (1.0 / norm) as f32;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

impl Embedder for MiniLmEmbedder {
    fn name(&self) -> &str {
        NAME
    }

    fn dim(&self) -> usize {
        DIM
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        self.embed_batch(&[text]).pop().unwrap_or_else(|| vec![0.0; DIM])
    }

    /// Batches of [`MiniLmConfig::batch_size`] texts, each padded to its longest text.
    /// Texts are sorted by length first so a batch holds similar lengths (less padding).
    fn embed_batch(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let vectors = match self.try_embed_batch(&batch) {
                Ok(v) => v,
                Err(e) => {
                    // The trait is infallible; a zero vector is what the caller rejects.
                    tracing::error!(error = %e, texts = batch.len(), "MiniLM embedding failed");
                    vec![vec![0.0; DIM]; batch.len()]
                }
            };
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        out
    }
}
