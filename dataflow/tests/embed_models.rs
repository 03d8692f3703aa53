//! The model-backed embedders: MiniLM against sentence-transformers' reference vectors, the
//! WordPiece re-implementation against `tokenizers`, a small distillation end to end, clear
//! errors for missing or corrupt files, and the data directory's embedder check.
//!
//! Tests that need all-MiniLM-L6-v2 find it where `scripts/setup-model` puts it (`scripts/test`
//! runs that first) or in `$LAKEHOUSE_MODEL_DIR`; without it they fail and say so.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use dataflow::embed::static_model::StaticEmbedder;
use dataflow::embed::wordpiece::WordPiece;
use dataflow::embed::{distill, DistillConfig, EmbedError, Embedder, HashingEmbedder, MiniLmConfig, MiniLmEmbedder};
use dataflow::engine::durable::DurabilityConfig;
use dataflow::engine::{Engine, EngineConfig};
use dataflow::DataflowError;

fn model_dir() -> PathBuf {
    let dir = std::env::var_os("LAKEHOUSE_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/models/all-MiniLM-L6-v2"));
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        assert!(
            dir.join(f).is_file(),
            "all-MiniLM-L6-v2 is missing ({} not found): run scripts/setup-model (scripts/test does) \
             or set LAKEHOUSE_MODEL_DIR",
            dir.join(f).display()
        );
    }
    dir
}

/// One loaded model shared by the tests of this binary.
fn minilm() -> &'static MiniLmEmbedder {
    static MODEL: OnceLock<MiniLmEmbedder> = OnceLock::new();
    MODEL.get_or_init(|| {
        let mut config = MiniLmConfig::new(model_dir());
        config.threads = 2;
        MiniLmEmbedder::load(&config).expect("load MiniLM")
    })
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[derive(serde::Deserialize)]
struct Reference {
    produced_by: String,
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

#[test]
fn minilm_matches_sentence_transformers() {
    let reference: Reference =
        serde_json::from_str(include_str!("data/minilm_reference.json")).expect("reference vectors");
    let e = minilm();
    assert_eq!((e.name(), e.dim()), ("minilm-l6-v2", 384));
    let texts: Vec<&str> = reference.texts.iter().map(String::as_str).collect();
    let got = e.embed_batch(&texts);
    for ((text, want), v) in texts.iter().zip(&reference.vectors).zip(&got) {
        let c = cos(want, v);
        assert!(c >= 0.9999, "cosine {c} for {text:?} (reference: {})", reference.produced_by);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
    // Alone (no padding) gives the same vector as inside a padded batch.
    let single = e.embed(texts[0]);
    assert!(cos(&single, &got[0]) >= 0.9999);
}

#[test]
fn wordpiece_matches_tokenizers() {
    let e = minilm();
    let tok = e.tokenizer();
    let mut vocab = vec![String::new(); tok.get_vocab_size(true)];
    for (t, id) in tok.get_vocab(true) {
        vocab[id as usize] = t;
    }
    let unk = tok.token_to_id("[UNK]").unwrap();
    let wp = WordPiece::new(&vocab);
    for text in [
        "forklift operator in Houston, TX. night shift. skills: sit-down forklift, reach truck",
        "CDL-A truck driver; HAZMAT endorsement & TWIC (D1.1) — 24/7 on-call",
        "Ärztin in München: café, naïve résumé, Zürich",
        "semi driver 18-wheeler OTR",
        "nurse's aide, caregiver; hi-lo / fork-truck",
        "unbelievablyunsplittablewordxqzj",
    ] {
        let mut want: Vec<u32> = tok.encode(text, false).unwrap().get_ids().to_vec();
        want.retain(|&id| id != unk);
        assert_eq!(wp.tokenize(text), want, "{text:?}");
    }
}

#[test]
fn distill_small_vocabulary_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("static.lhs");
    let mut config = DistillConfig::new(model_dir());
    config.dim = 16;
    config.limit = Some(300);
    config.minilm.threads = 2;
    let report = distill(&config, &out).expect("distill");
    assert_eq!(report.tokens_embedded, 300);
    assert!(report.header.id.starts_with("static-minilm-l6-v2-16-"), "{}", report.header.id);
    let e = StaticEmbedder::load(&out).expect("load");
    assert_eq!((e.name(), e.dim()), (report.header.id.as_str(), 16));
    // Deterministic: the same distillation gives the same file id and vectors.
    let again = dir.path().join("again.lhs");
    assert_eq!(distill(&config, &again).unwrap().header.id, report.header.id);
    let a = e.embed("a b c ! ?");
    assert_eq!(a, StaticEmbedder::load(&again).unwrap().embed("a b c ! ?"));
    let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
}

#[test]
fn missing_or_corrupt_model_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let load = |d: &Path| MiniLmEmbedder::load(&MiniLmConfig::new(d)).unwrap_err();
    let msg = load(&dir.path().join("nothing")).to_string();
    assert!(msg.contains("config.json") && msg.contains("missing") && msg.contains("scripts/setup-model"), "{msg}");

    let src = model_dir();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let weights = std::fs::read(src.join("model.safetensors")).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), &weights[..weights.len() / 3]).unwrap();
    let err = load(dir.path());
    assert!(matches!(err, EmbedError::ModelFile { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("model.safetensors") && msg.contains("scripts/setup-model"), "{msg}");

    std::fs::write(dir.path().join("tokenizer.json"), b"{ not json").unwrap();
    let msg = load(dir.path()).to_string();
    assert!(msg.contains("tokenizer.json") && msg.contains("scripts/setup-model"), "{msg}");
    std::fs::write(dir.path().join("config.json"), b"{}").unwrap();
    let msg = load(dir.path()).to_string();
    assert!(msg.contains("config.json") && msg.contains("scripts/setup-model"), "{msg}");

    // Static model: missing, truncated.
    let missing = dir.path().join("static.lhs");
    let msg = StaticEmbedder::load(&missing).unwrap_err().to_string();
    assert!(msg.contains("static.lhs") && msg.contains("missing") && msg.contains("lakehouse embed distill"), "{msg}");
    let vocab: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    StaticEmbedder::write(&missing, &vocab, 4, &[0.5; 12], serde_json::json!({})).unwrap();
    let bytes = std::fs::read(&missing).unwrap();
    std::fs::write(&missing, &bytes[..bytes.len() - 5]).unwrap();
    let msg = StaticEmbedder::load(&missing).unwrap_err().to_string();
    assert!(msg.contains("static.lhs") && msg.contains("truncated"), "{msg}");
}

fn start(dir: &Path, embedder: Arc<dyn Embedder>, reembed: bool) -> Result<Engine, DataflowError> {
    let durability = DurabilityConfig {
        snapshot_interval: None,
        snapshot_every_writes: None,
        reembed,
        ..DurabilityConfig::new(dir)
    };
    Engine::start(EngineConfig {
        threads: 1,
        embedder: Some(embedder),
        durability: Some(durability),
        ..EngineConfig::default()
    })
}

#[test]
fn data_directory_refuses_another_embedder() {
    let dir = tempfile::tempdir().unwrap();
    let h64: Arc<dyn Embedder> = Arc::new(HashingEmbedder::new(64).unwrap());
    let h128: Arc<dyn Embedder> = Arc::new(HashingEmbedder::new(128).unwrap());
    let vocab: Vec<String> = ["[UNK]", "welder"].iter().map(|s| s.to_string()).collect();
    let tiny: Arc<dyn Embedder> = Arc::new(StaticEmbedder::from_parts(vocab, 64, vec![0.25; 128]).unwrap());
    let e = start(dir.path(), Arc::clone(&h64), false).unwrap();
    let worker = dataflow::corpus::generate_corpus(1, 1).remove(0);
    let v = e.upsert_workers(vec![worker]).unwrap();
    assert!(e.wait_visible_blocking(v, std::time::Duration::from_secs(30)));
    e.shutdown();
    drop(e);

    for other in [&h128, &tiny] {
        let err = start(dir.path(), Arc::clone(other), false).err().expect("a different embedder must be refused");
        let msg = err.to_string();
        assert!(matches!(err, DataflowError::EmbedderMismatch { .. }), "{err:?}");
        assert!(
            msg.contains("hashing-v1 (64 dims)") && msg.contains(other.name()) && msg.contains("--reembed"),
            "{msg}"
        );
    }
    // The same embedder starts; --reembed switches and re-embeds everything.
    start(dir.path(), Arc::clone(&h64), false).unwrap().shutdown();
    let e = start(dir.path(), Arc::clone(&h128), true).unwrap();
    assert_eq!(e.live_workers(), 1);
    assert_eq!(e.embedder().dim(), 128);
    e.shutdown();
    drop(e);
    start(dir.path(), Arc::clone(&h128), false).unwrap().shutdown();
    assert!(start(dir.path(), h64, false).is_err());
}
