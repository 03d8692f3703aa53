//! [`distill`]: make a [`StaticEmbedder`] file from MiniLM (the model2vec recipe).
//!
//! 1. Every vocabulary token (special and `[unused…]` tokens excepted) is embedded once
//!    through the transformer as the one-token text `[CLS] token [SEP]`, mean-pooled and
//!    normalised exactly as a sentence would be.
//! 2. PCA: the token vectors are centred and projected on the top `dim` eigenvectors of
//!    their covariance (nalgebra's `SymmetricEigen`; the covariance product runs in candle).
//!    Each eigenvector's sign is fixed (largest component positive), so the output is
//!    deterministic.
//! 3. Frequency weighting (SIF, `a / (a + p)`): a token's probability `p` comes from Zipf's
//!    law over the vocabulary's order (BERT's WordPiece vocabulary is roughly frequency
//!    ordered), blended half-and-half with its frequency in a domain sample when one is
//!    given — so `in`, `skills`, `certifications` and punctuation weigh little, rare
//!    content words much.
//!
//! A text's vector is then the weighted mean of its tokens' rows ([`StaticEmbedder`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use nalgebra::{DMatrix, SymmetricEigen};

use super::minilm::{MiniLmConfig, MiniLmEmbedder, DIM as TEACHER_DIM};
use super::static_model::{StaticEmbedder, StaticHeader};
use super::wordpiece::WordPiece;
use super::EmbedError;

/// Default output dimension.
pub const DEFAULT_DIM: usize = 256;
/// Default SIF coefficient `a` (model2vec's).
pub const DEFAULT_SIF: f64 = 1e-4;

/// Distillation settings.
#[derive(Clone, Debug)]
pub struct DistillConfig {
    /// The teacher model.
    pub minilm: MiniLmConfig,
    /// Output dimension (at most 384).
    pub dim: usize,
    /// SIF coefficient `a`; `None` leaves every token at weight 1.
    pub sif: Option<f64>,
    /// Token sequences per forward pass.
    pub batch_size: usize,
    /// Only embed the first `limit` ordinary tokens (tests); the rest get zero vectors.
    pub limit: Option<usize>,
    /// Domain texts whose token frequencies are blended into the weighting.
    pub domain_texts: Vec<String>,
}

impl DistillConfig {
    /// Defaults: 256 dims, SIF 1e-4, batches of 512, the whole vocabulary, no domain sample.
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        DistillConfig {
            minilm: MiniLmConfig::new(model_dir),
            dim: DEFAULT_DIM,
            sif: Some(DEFAULT_SIF),
            batch_size: 512,
            limit: None,
            domain_texts: Vec::new(),
        }
    }
}

/// What [`distill`] wrote.
#[derive(Clone, Debug)]
pub struct DistillReport {
    /// The file's header (id, dim, vocabulary, CRC).
    pub header: StaticHeader,
    /// Tokens embedded through the transformer.
    pub tokens_embedded: usize,
    /// Time in the transformer.
    pub embed_time: Duration,
    /// Total time.
    pub total_time: Duration,
}

/// Whether a vocabulary entry gets a vector: not `[PAD]`, `[CLS]`, `[unused12]`, ….
fn is_ordinary(token: &str) -> bool {
    !(token.starts_with('[') && token.ends_with(']') && token.len() > 2)
}

/// Distills MiniLM into a static model file at `out`.
///
/// # Errors
/// [`EmbedError::ModelFile`] if the teacher's files are missing or unreadable, or `out`
/// cannot be written; [`EmbedError::Runtime`] for `dim` outside `1..=384` or if the
/// forward pass fails.
pub fn distill(config: &DistillConfig, out: &Path) -> Result<DistillReport, EmbedError> {
    let started = Instant::now();
    if config.dim == 0 || config.dim > TEACHER_DIM {
        return Err(EmbedError::Runtime {
            reason: format!("distilled dim must be in 1..={TEACHER_DIM}, got {}", config.dim),
        });
    }
    let teacher = MiniLmEmbedder::load(&config.minilm)?;
    let vocab = vocabulary(&teacher);
    let (cls, sep) = special_ids(&teacher)?;

    // 1. One forward pass per token (as `[CLS] t [SEP]`, all of length 3: no padding).
    let mut ordinary: Vec<u32> = (0..vocab.len() as u32).filter(|&i| is_ordinary(&vocab[i as usize])).collect();
    if let Some(limit) = config.limit {
        ordinary.truncate(limit);
    }
    if ordinary.len() <= config.dim {
        return Err(EmbedError::Runtime {
            reason: format!("{} tokens cannot give {} principal components", ordinary.len(), config.dim),
        });
    }
    let t0 = Instant::now();
    let mut rows: Vec<f32> = Vec::with_capacity(ordinary.len() * TEACHER_DIM);
    for chunk in ordinary.chunks(config.batch_size.max(1)) {
        let ids: Vec<Vec<u32>> = chunk.iter().map(|&t| vec![cls, t, sep]).collect();
        let mask = vec![vec![1u32; 3]; chunk.len()];
        let vectors = teacher.install(|| teacher.forward_pooled(&ids, &mask)).map_err(runtime)?;
        vectors.iter().for_each(|v| rows.extend_from_slice(v));
    }
    let embed_time = t0.elapsed();

    // 2. PCA.
    let n = ordinary.len();
    let projected = pca(&rows, n, TEACHER_DIM, config.dim)?;

    // 3. SIF weights.
    let weights = config.sif.map(|a| sif_weights(&vocab, &ordinary, &config.domain_texts, a));
    let mut matrix = vec![0.0f32; vocab.len() * config.dim];
    for (row, &token) in ordinary.iter().enumerate() {
        let w = weights.as_ref().map_or(1.0, |w| w[row]);
        let dst = &mut matrix[token as usize * config.dim..(token as usize + 1) * config.dim];
        for (d, s) in dst.iter_mut().zip(&projected[row * config.dim..(row + 1) * config.dim]) {
            *d = (f64::from(*s) * w) as f32;
        }
    }
    let provenance = serde_json::json!({
        "teacher": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), revision 1110a243",
        "method": "model2vec-style: token embeddings through the transformer, PCA, SIF weighting",
        "tokens_embedded": n,
        "pca_dims": config.dim,
        "sif_coefficient": config.sif,
        "domain_texts": config.domain_texts.len(),
    });
    let header = StaticEmbedder::write(out, &vocab, config.dim, &matrix, provenance)?;
    Ok(DistillReport { header, tokens_embedded: n, embed_time, total_time: started.elapsed() })
}

fn runtime(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Runtime { reason: format!("distillation: {e}") }
}

/// The teacher's vocabulary, id = position.
fn vocabulary(teacher: &MiniLmEmbedder) -> Vec<String> {
    let map = teacher.tokenizer().get_vocab(true);
    let mut vocab = vec![String::new(); map.values().max().map_or(0, |m| *m as usize + 1)];
    for (token, id) in map {
        vocab[id as usize] = token;
    }
    vocab
}

fn special_ids(teacher: &MiniLmEmbedder) -> Result<(u32, u32), EmbedError> {
    let tok = teacher.tokenizer();
    let id = |t: &str| {
        tok.token_to_id(t).ok_or_else(|| {
            super::minilm::model_error(
                &teacher.model_dir().join("tokenizer.json"),
                format!("no {t} token in the vocabulary"),
            )
        })
    };
    Ok((id("[CLS]")?, id("[SEP]")?))
}

/// Rows of `data` (`n × d`, row-major) centred and projected on the top `k` principal axes.
fn pca(data: &[f32], n: usize, d: usize, k: usize) -> Result<Vec<f32>, EmbedError> {
    let x = Tensor::from_slice(data, (n, d), &Device::Cpu).map_err(runtime)?;
    let mean = x.mean_keepdim(0).map_err(runtime)?;
    let centred = x.broadcast_sub(&mean).map_err(runtime)?;
    let cov = centred.t().and_then(|t| t.matmul(&centred)).map_err(runtime)?;
    let cov: Vec<Vec<f32>> = cov.to_vec2().map_err(runtime)?;
    let cov = DMatrix::<f64>::from_fn(d, d, |i, j| f64::from(cov[i][j]) / (n as f64 - 1.0));
    let eig = SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let mut proj = vec![0.0f32; d * k];
    for (col, &axis) in order.iter().take(k).enumerate() {
        let v = eig.eigenvectors.column(axis);
        let pivot = v.iter().copied().max_by(|a, b| a.abs().total_cmp(&b.abs())).unwrap_or(1.0);
        let sign = if pivot < 0.0 { -1.0 } else { 1.0 };
        for row in 0..d {
            proj[row * k + col] = (v[row] * sign) as f32;
        }
    }
    let proj = Tensor::from_vec(proj, (d, k), &Device::Cpu).map_err(runtime)?;
    let y = centred.matmul(&proj).map_err(runtime)?;
    y.flatten_all().and_then(|t| t.to_vec1()).map_err(runtime)
}

/// SIF weight `a / (a + p)` for each embedded token (in `ordinary` order).
fn sif_weights(vocab: &[String], ordinary: &[u32], domain: &[String], a: f64) -> Vec<f64> {
    // Zipf over the vocabulary order of the ordinary tokens.
    let harmonic: f64 = (0..ordinary.len()).map(|r| 1.0 / (r as f64 + 2.0)).sum();
    let zipf = |rank: usize| 1.0 / (rank as f64 + 2.0) / harmonic;
    let mut counts = vec![0u64; vocab.len()];
    if !domain.is_empty() {
        let wp = WordPiece::new(vocab);
        for text in domain {
            wp.for_each_token(text, |id| counts[id as usize] += 1);
        }
    }
    let total: u64 = counts.iter().sum();
    ordinary
        .iter()
        .enumerate()
        .map(|(rank, &id)| {
            let p = if total == 0 {
                zipf(rank)
            } else {
                0.5 * zipf(rank) + 0.5 * counts[id as usize] as f64 / total as f64
            };
            a / (a + p)
        })
        .collect()
}
