//! [`StaticEmbedder`]: a table of one vector per WordPiece token, distilled from MiniLM by
//! [`super::distill`] (the model2vec idea); a text is the weighted mean of its tokens'
//! vectors, L2-normalised. Loads in milliseconds, embeds in microseconds.
//!
//! # File format (`.lhs`, little-endian)
//! ```text
//! b"LHSTATIC"            8 bytes magic
//! u32 format version     (FORMAT_VERSION)
//! u32 header length H
//! H bytes JSON header    StaticHeader: id, dim, vocabulary, CRC-32 of the matrix, provenance
//! vocab_size × dim f32   the token vectors, row by row (the frequency weight already applied)
//! ```
//! The file is rejected (with an error naming it and the command that rewrites it) if the
//! magic, version, header, length or matrix CRC do not match.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::minilm::l2_normalise;
use super::wordpiece::WordPiece;
use super::{EmbedError, Embedder};

/// File magic.
pub const MAGIC: &[u8; 8] = b"LHSTATIC";
/// Version of the file layout.
pub const FORMAT_VERSION: u32 = 1;
/// What to run when the static model file is missing or damaged.
pub const DISTILL_HINT: &str =
    "run scripts/run (it sets up and distills), or scripts/setup-model then `lakehouse embed distill`";

/// The JSON header of a static model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StaticHeader {
    /// Embedder id, e.g. `static-minilm-l6-v2-256-1a2b3c4d` (dimension and matrix CRC).
    pub id: String,
    /// Vector dimension.
    pub dim: usize,
    /// The WordPiece vocabulary, id = position (`##` marks continuation pieces).
    pub vocab: Vec<String>,
    /// CRC-32 of the matrix bytes.
    pub matrix_crc32: u32,
    /// How the file was made (teacher model, PCA, weighting), for humans.
    pub provenance: serde_json::Value,
}

/// Static token-vector embedder.
pub struct StaticEmbedder {
    id: String,
    dim: usize,
    wordpiece: WordPiece,
    /// `vocab_size × dim`, row-major.
    matrix: Vec<f32>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for StaticEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticEmbedder")
            .field("id", &self.id)
            .field("dim", &self.dim)
            .field("vocab", &(self.matrix.len() / self.dim.max(1)))
            .field("path", &self.path)
            .finish()
    }
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> EmbedError {
    EmbedError::ModelFile { path: path.to_path_buf(), reason: reason.to_string(), hint: DISTILL_HINT }
}

/// The embedder id for a table: model, dimension and the matrix CRC, so two distillations
/// that differ in any vector never share an id.
pub fn static_id(dim: usize, matrix_crc32: u32) -> String {
    format!("static-minilm-l6-v2-{dim}-{matrix_crc32:08x}")
}

fn matrix_bytes(matrix: &[f32]) -> Vec<u8> {
    matrix.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl StaticEmbedder {
    /// Builds an embedder from a vocabulary and its `vocab.len() × dim` matrix.
    ///
    /// # Errors
    /// [`EmbedError::InvalidDimension`] for `dim == 0` or a matrix of the wrong size.
    pub fn from_parts(vocab: Vec<String>, dim: usize, matrix: Vec<f32>) -> Result<Self, EmbedError> {
        if dim == 0 || matrix.len() != vocab.len() * dim {
            return Err(EmbedError::InvalidDimension { dim });
        }
        let crc = crc32fast::hash(&matrix_bytes(&matrix));
        Ok(StaticEmbedder { id: static_id(dim, crc), dim, wordpiece: WordPiece::new(&vocab), matrix, path: None })
    }

    /// Writes a static model file (temporary file, then rename).
    ///
    /// # Errors
    /// [`EmbedError::ModelFile`] naming `path` on an I/O failure.
    pub fn write(
        path: &Path,
        vocab: &[String],
        dim: usize,
        matrix: &[f32],
        provenance: serde_json::Value,
    ) -> Result<StaticHeader, EmbedError> {
        let bytes = matrix_bytes(matrix);
        let crc = crc32fast::hash(&bytes);
        let header =
            StaticHeader { id: static_id(dim, crc), dim, vocab: vocab.to_vec(), matrix_crc32: crc, provenance };
        let json = serde_json::to_vec(&header).map_err(|e| file_error(path, e))?;
        let mut out = Vec::with_capacity(16 + json.len() + bytes.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&bytes);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| file_error(parent, e))?;
        }
        let tmp = path.with_extension("lhs.tmp");
        std::fs::write(&tmp, &out).map_err(|e| file_error(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| file_error(path, e))?;
        Ok(header)
    }

    /// Loads a static model file.
    ///
    /// # Errors
    /// [`EmbedError::ModelFile`] naming the file and the command that (re)creates it when it
    /// is missing, truncated, of another format, or its matrix fails the CRC check.
    pub fn load(path: &Path) -> Result<Self, EmbedError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(file_error(path, "missing")),
            Err(e) => return Err(file_error(path, e)),
        };
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(file_error(path, "not a static embedder file (bad magic)"));
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if version != FORMAT_VERSION {
            return Err(file_error(path, format!("format version {version}, expected {FORMAT_VERSION}")));
        }
        let hlen = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
        let body = bytes.get(16..16 + hlen).ok_or_else(|| file_error(path, "truncated header"))?;
        let header: StaticHeader =
            serde_json::from_slice(body).map_err(|e| file_error(path, format!("corrupt header: {e}")))?;
        let matrix = &bytes[16 + hlen..];
        let want = header.vocab.len() * header.dim * 4;
        if header.dim == 0 || matrix.len() != want {
            return Err(file_error(
                path,
                format!("truncated or corrupt: matrix of {} bytes, expected {want}", matrix.len()),
            ));
        }
        let crc = crc32fast::hash(matrix);
        if crc != header.matrix_crc32 || header.id != static_id(header.dim, crc) {
            return Err(file_error(
                path,
                format!("corrupt: matrix CRC-32 {crc:08x}, header says {:08x}", header.matrix_crc32),
            ));
        }
        let matrix: Vec<f32> = matrix.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok(StaticEmbedder {
            id: header.id,
            dim: header.dim,
            wordpiece: WordPiece::new(&header.vocab),
            matrix,
            path: Some(path.to_path_buf()),
        })
    }

    /// The file it was loaded from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl Embedder for StaticEmbedder {
    fn name(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        let mut out = vec![0.0f32; self.dim];
        let dim = self.dim;
        self.wordpiece.for_each_token(text, |id| {
            let start = id as usize * dim;
            if let Some(row) = self.matrix.get(start..start + dim) {
                out.iter_mut().zip(row).for_each(|(a, x)| *a += x);
            }
        });
        // The mean's direction is the sum's: normalising is all that is left.
        l2_normalise(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (Vec<String>, Vec<f32>) {
        let vocab = ["[UNK]", "welder", "nurse", "##s"].iter().map(|s| s.to_string()).collect();
        let matrix = vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.5, 0.5];
        (vocab, matrix)
    }

    #[test]
    fn embeds_weighted_mean_of_tokens() {
        let (vocab, matrix) = tiny();
        let e = StaticEmbedder::from_parts(vocab, 2, matrix).unwrap();
        assert_eq!(e.embed("Welder"), [1.0, 0.0]);
        let v = e.embed("welders");
        assert!((v[0] - 0.948_683).abs() < 1e-5 && (v[1] - 0.316_227_8).abs() < 1e-5, "{v:?}");
        assert_eq!(e.embed("plumber"), [0.0, 0.0]);
        assert!(e.name().starts_with("static-minilm-l6-v2-2-"));
    }

    #[test]
    fn round_trip_and_corruption() {
        let (vocab, matrix) = tiny();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.lhs");
        let header = StaticEmbedder::write(&path, &vocab, 2, &matrix, serde_json::json!({})).unwrap();
        let e = StaticEmbedder::load(&path).unwrap();
        assert_eq!(e.name(), header.id);
        assert_eq!(e.embed("nurse"), [0.0, 1.0]);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let msg = StaticEmbedder::load(&path).unwrap_err().to_string();
        assert!(msg.contains("m.lhs") && msg.contains("CRC") && msg.contains("lakehouse embed distill"), "{msg}");
    }
}
