//! The built-in [`HashingEmbedder`]: signed feature hashing of words, stems, bigrams
//! and character 3-grams, tuned for short staffing texts.
//!
//! No model weights and no vocabulary: every feature is hashed (FNV-1a, or for all-ASCII
//! 3-grams the packed bytes, then a murmur3 finaliser) to a bucket and a sign. The hash is
//! fixed in code (not std's randomly seeded hasher), so vectors are stable across runs,
//! processes and platforms — an index built yesterday stays valid today.
//!
//! Features of a text (after lower-casing):
//! * word unigrams, weight [`UNIGRAM_WEIGHT`]; a handful of stop words get only
//!   [`STOPWORD_WEIGHT`] and no other features (they would otherwise dominate short
//!   texts, e.g. the `in` of every worker's `role in city`);
//! * a crude stem of each word (suffixes `-ing -ers -er -s -ed -ist(s) -ian(s)` and a final
//!   `-e` stripped, so `welders`/`welder`/`welding`/`weld` and `nurse`/`nurses`/`nursing`
//!   meet), weight [`STEM_WEIGHT`];
//! * word bigrams, weight [`BIGRAM_WEIGHT`]; chains break at punctuation and bridge over
//!   stop words (`driver in warehouse` → `driver warehouse`);
//! * character 3-grams of each word with `#` boundary markers (`#wo wor ord rd#`), each
//!   weighing [`TRIGRAM_WEIGHT`]`/√n` for a word with `n` 3-grams, so a word's 3-grams
//!   together carry the same energy however long the word is;
//! * tokens joined by `-` or `.` (`cdl-a`, `osha-10`, `d1.1`) are kept whole as an extra
//!   unigram *and* split into their parts, which get all of the above.
//!
//! A feature occurring `tf` times weighs `w · (1 + ln tf)` (sublinear term frequency).

use super::{EmbedError, Embedder};

/// Smallest accepted dimension: below this, collisions swamp the signal.
pub const MIN_DIM: usize = 16;
/// Largest accepted dimension (buckets are derived from 32 hash bits; far beyond any
/// useful size for hashed features of short texts).
pub const MAX_DIM: usize = 65_536;
/// Dimension used by [`HashingEmbedder::default`].
pub const DEFAULT_DIM: usize = 768;

/// Weight of a word unigram (and of a joined token such as `cdl-a`).
pub const UNIGRAM_WEIGHT: f32 = 1.0;
/// Weight of a stop word's unigram; stop words get no other features.
pub const STOPWORD_WEIGHT: f32 = 0.2;
/// Weight of a word's stem.
pub const STEM_WEIGHT: f32 = 0.6;
/// Weight of a word bigram.
pub const BIGRAM_WEIGHT: f32 = 0.5;
/// Total (L2) weight of one word's character 3-grams; each of its `n` 3-grams weighs
/// `TRIGRAM_WEIGHT / √n` (0.25–0.45 for typical 5–16 letter words). A word's 3-grams
/// together weigh as much as its unigram: that is what lands inflections and typos
/// (`welders`/`welder`, `forklfit`/`forklift`) close together.
pub const TRIGRAM_WEIGHT: f32 = 1.0;

/// Name reported by [`HashingEmbedder::name`]. Bump it whenever vectors would change.
const NAME: &str = "hashing-v1";

// Feature namespaces: the first byte fed to the hash, so the word `weld` and the stem
// `weld` (or a 3-gram equal to a short word) land in unrelated buckets.
const NS_UNIGRAM: u8 = 1;
const NS_STEM: u8 = 2;
const NS_BIGRAM: u8 = 3;
const NS_TRIGRAM: u8 = 4;

/// Boundary marker for character 3-grams. It can never occur inside a token (tokens are
/// alphanumeric plus inner `-`/`.`), so `#ab` only ever means "word starts with ab".
const BOUNDARY: u8 = b'#';

/// Very common function words, plus the labels of
/// [`WorkerRecord::embedding_text`](crate::record::WorkerRecord::embedding_text) that occur
/// in every worker's text and so carry no information. Kept deliberately short: `in` and
/// `or` double as state codes, so stop words are down-weighted, not dropped.
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "and",
    "are",
    "as",
    "at",
    "by",
    "certifications",
    "for",
    "from",
    "in",
    "is",
    "of",
    "on",
    "or",
    "skills",
    "the",
    "to",
    "with",
];

/// Deterministic feature-hashing embedder for staffing text.
///
/// Cheap to clone and share: it holds only its dimension. See the module docs for the
/// feature set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashingEmbedder {
    dim: usize,
}

impl HashingEmbedder {
    /// Creates an embedder producing `dim`-dimensional vectors.
    ///
    /// # Errors
    /// [`EmbedError::InvalidDimension`] unless `MIN_DIM <= dim <= MAX_DIM`.
    pub fn new(dim: usize) -> Result<Self, EmbedError> {
        if (MIN_DIM..=MAX_DIM).contains(&dim) {
            Ok(Self { dim })
        } else {
            Err(EmbedError::InvalidDimension { dim })
        }
    }
}

impl Default for HashingEmbedder {
    /// A [`DEFAULT_DIM`]-dimensional embedder.
    fn default() -> Self {
        Self { dim: DEFAULT_DIM }
    }
}

impl Embedder for HashingEmbedder {
    fn name(&self) -> &str {
        NAME
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        let mut out = vec![0.0f32; self.dim];
        // One lower-casing allocation per text; every feature is then hashed straight
        // from slices of it, never materialised as a String.
        let lower = text.to_lowercase();
        let mut ex = Extractor {
            // ~1.3 features per byte of typical text (a 3-gram per char, three more per
            // word); the Vec grows if a text is denser.
            features: Vec::with_capacity(lower.len() + lower.len() / 2 + 8),
            offsets: Vec::with_capacity(32),
            prev: None,
        };
        ex.scan(&lower);
        if ex.features.is_empty() {
            return out;
        }
        accumulate(&ex.features, &mut out);
        normalise(&mut out);
        out
    }
}

/// Incremental FNV-1a (64-bit). Fed byte by byte so composite features (bigrams,
/// 3-grams with markers) need no temporary buffer.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    #[inline]
    fn new(namespace: u8) -> Self {
        Fnv(Self::OFFSET).byte(namespace)
    }

    #[inline]
    fn byte(self, b: u8) -> Self {
        Fnv((self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME))
    }

    #[inline]
    fn bytes(mut self, bs: &[u8]) -> Self {
        for &b in bs {
            self = self.byte(b);
        }
        self
    }

    /// FNV-1a's low bits are weak for short inputs; the murmur3 finaliser spreads every
    /// input bit over the whole word before we take bucket and sign bits from it.
    #[inline]
    fn finish(self) -> u64 {
        fmix64(self.0)
    }
}

/// Collects `(feature hash, weight)` pairs from one lower-cased text.
struct Extractor<'a> {
    features: Vec<(u64, f32)>,
    /// Scratch: byte offsets of the chars of the current word (plus its end).
    offsets: Vec<usize>,
    /// Previous non-stop word of the current bigram chain.
    prev: Option<&'a str>,
}

impl<'a> Extractor<'a> {
    /// Tokenises `s`: parts are maximal alphanumeric runs; parts linked by a single `-`
    /// or `.` form a compound that is also emitted whole.
    fn scan(&mut self, s: &'a str) {
        let mut part_start: Option<usize> = None;
        let mut comp_start: Option<usize> = None;
        let mut comp_parts = 0usize;
        let mut chars = s.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c.is_alphanumeric() {
                if part_start.is_none() {
                    part_start = Some(i);
                    if comp_start.is_none() {
                        comp_start = Some(i);
                    }
                }
                continue;
            }
            let after_part = if let Some(ps) = part_start.take() {
                self.part(&s[ps..i]);
                comp_parts += 1;
                true
            } else {
                false
            };
            let before_part = chars.peek().is_some_and(|&(_, n)| n.is_alphanumeric());
            if (c == '-' || c == '.') && after_part && before_part {
                continue; // inner joiner: the compound stays open
            }
            if let Some(cs) = comp_start.take() {
                if comp_parts > 1 {
                    self.joined(&s[cs..i]);
                }
            }
            comp_parts = 0;
            if !c.is_whitespace() {
                // Punctuation ends the phrase: no bigram across "Houston, TX. day".
                self.prev = None;
            }
        }
        if let Some(ps) = part_start {
            self.part(&s[ps..]);
            comp_parts += 1;
        }
        if let Some(cs) = comp_start {
            if comp_parts > 1 {
                self.joined(&s[cs..]);
            }
        }
    }

    #[inline]
    fn push(&mut self, h: Fnv, w: f32) {
        self.features.push((h.finish(), w));
    }

    fn joined(&mut self, token: &str) {
        self.push(Fnv::new(NS_UNIGRAM).bytes(token.as_bytes()), UNIGRAM_WEIGHT);
    }

    fn part(&mut self, word: &'a str) {
        let bytes = word.as_bytes();
        if STOPWORDS.contains(&word) {
            self.push(Fnv::new(NS_UNIGRAM).bytes(bytes), STOPWORD_WEIGHT);
            return; // bigram chain bridges over it
        }
        self.push(Fnv::new(NS_UNIGRAM).bytes(bytes), UNIGRAM_WEIGHT);
        self.push(Fnv::new(NS_STEM).bytes(stem(bytes)), STEM_WEIGHT);
        if let Some(prev) = self.prev {
            let h = Fnv::new(NS_BIGRAM).bytes(prev.as_bytes()).byte(b' ').bytes(bytes);
            self.push(h, BIGRAM_WEIGHT);
        }
        self.prev = Some(word);
        self.trigrams(word);
    }

    /// Character 3-grams of `#word#`. Works on chars (not bytes) so non-ASCII words get
    /// meaningful grams; `offsets` holds each char's start plus the word's end.
    fn trigrams(&mut self, word: &str) {
        let bytes = word.as_bytes();
        if word.is_ascii() {
            // Fast path: every char is one byte; no offset table needed.
            let n = bytes.len();
            let w = TRIGRAM_WEIGHT / (n as f32).sqrt();
            let at = |p: usize| if p == 0 || p == n + 1 { BOUNDARY } else { bytes[p - 1] };
            for j in 0..n {
                self.features.push((ascii_trigram_hash(at(j), at(j + 1), at(j + 2)), w));
            }
            return;
        }
        self.offsets.clear();
        self.offsets.extend(word.char_indices().map(|(i, _)| i));
        self.offsets.push(bytes.len());
        let n = self.offsets.len() - 1; // chars in the word == number of 3-grams
        if n == 0 {
            return;
        }
        let w = TRIGRAM_WEIGHT / (n as f32).sqrt();
        // Virtual sequence: '#', c_0 .. c_{n-1}, '#'. Gram j covers positions j..j+3.
        let boundary = [BOUNDARY];
        for j in 0..n {
            let gram: [&[u8]; 3] = std::array::from_fn(|k| {
                let p = j + k;
                if p == 0 || p == n + 1 {
                    &boundary[..]
                } else {
                    &bytes[self.offsets[p - 1]..self.offsets[p]]
                }
            });
            let h = if gram.iter().all(|c| c.len() == 1) {
                // Same hash as the fast path: a gram's hash depends only on its text.
                ascii_trigram_hash(gram[0][0], gram[1][0], gram[2][0])
            } else {
                gram.iter().fold(Fnv::new(NS_TRIGRAM), |h, c| h.bytes(c)).finish()
            };
            self.features.push((h, w));
        }
    }
}

/// Hash of an all-ASCII 3-gram: the three bytes packed under the 3-gram namespace and
/// mixed once — a third of the work of feeding FNV byte by byte, on the hottest path.
#[inline]
fn ascii_trigram_hash(a: u8, b: u8, c: u8) -> u64 {
    let packed = u64::from(NS_TRIGRAM) << 56 | u64::from(a) << 16 | u64::from(b) << 8 | u64::from(c);
    fmix64(packed ^ 0x9e37_79b9_7f4a_7c15)
}

/// murmur3's 64-bit finaliser: spreads every input bit over the whole word.
#[inline]
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// Crude English stemmer for staffing vocabulary: strips one suffix, undoubles a final
/// consonant left by `-ing/-ed/-er(s)` (`shipping` → `ship`), then a final `e`
/// (`nurse` → `nurs`, matching `nursing`). Only purely alphabetic ASCII words of 4+
/// letters are touched, so codes like `d1` or `osha` survive.
fn stem(w: &[u8]) -> &[u8] {
    const SUFFIXES: &[&[u8]] = &[b"ians", b"ists", b"ing", b"ers", b"ian", b"ist", b"ed", b"er", b"s"];
    if w.len() < 4 || !w.iter().all(u8::is_ascii_lowercase) {
        return w;
    }
    let mut s = w;
    for suf in SUFFIXES {
        if s.len() >= suf.len() + 3 && s.ends_with(suf) {
            // "-ss" is not a plural (class, business).
            if *suf == b"s" && s.ends_with(b"ss") {
                break;
            }
            s = &s[..s.len() - suf.len()];
            let undouble = matches!(*suf, b"ing" | b"ed" | b"er" | b"ers");
            if undouble && s.len() >= 4 {
                let (a, b) = (s[s.len() - 2], s[s.len() - 1]);
                if a == b && !matches!(b, b'l' | b's' | b'z' | b'a' | b'e' | b'i' | b'o' | b'u') {
                    s = &s[..s.len() - 1];
                }
            }
            break;
        }
    }
    if s.len() >= 5 && s.ends_with(b"e") {
        s = &s[..s.len() - 1];
    }
    s
}

/// One distinct feature while merging duplicates.
#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    /// Sum of the occurrences' weights (f64: exact for a few f32 addends).
    sum: f64,
    /// Occurrences; 0 marks an empty slot.
    tf: u32,
}

/// Merges duplicate features (sublinear tf) and adds them, signed, into `out`.
///
/// Duplicates are merged in a small open-addressing table rather than by sorting: a
/// 150-character text has ~250 features, and the table is about twice as fast. Slots are
/// visited in index order, which depends only on the hashes, so the result is
/// deterministic.
fn accumulate(features: &[(u64, f32)], out: &mut [f32]) {
    let cap = (features.len() * 2).next_power_of_two().max(16);
    let mask = cap - 1;
    let mut slots = vec![Slot { hash: 0, sum: 0.0, tf: 0 }; cap];
    for &(h, w) in features {
        // Slot from the high bits; buckets use the low 32, so the two stay independent.
        let mut i = (h >> 40) as usize & mask;
        loop {
            let slot = &mut slots[i];
            if slot.tf == 0 {
                *slot = Slot { hash: h, sum: f64::from(w), tf: 1 };
                break;
            }
            if slot.hash == h {
                slot.sum += f64::from(w);
                slot.tf += 1;
                break;
            }
            i = (i + 1) & mask;
        }
    }
    let dim = out.len() as u64;
    for slot in slots.iter().filter(|s| s.tf > 0) {
        let w = if slot.tf == 1 {
            slot.sum as f32
        } else {
            // Mean weight (3-gram weights differ by word length) times sublinear tf. `ln`
            // in f64, rounded to f32, so a last-bit difference between platforms' libm
            // cannot show in the vector.
            let tf = f64::from(slot.tf);
            (slot.sum / tf * (1.0 + tf.ln())) as f32
        };
        // Bucket from the low 32 bits by multiply-shift (no modulo bias worth noting at
        // these dims), sign from the top bit: independent bits of a well-mixed hash.
        let bucket = ((slot.hash & 0xffff_ffff) * dim) >> 32;
        out[bucket as usize] += if slot.hash >> 63 == 0 { w } else { -w };
    }
}

/// Scales `v` to unit L2 norm; leaves an all-zero vector alone.
///
/// The sum of squares runs in f64 (so 65 536-entry vectors still land within 1e-5 of 1)
/// over 8 independent lanes: a single running sum is latency-bound and was a third of
/// the whole embedding's time. The lane split is fixed, so the result is deterministic.
fn normalise(v: &mut [f32]) {
    const LANES: usize = 8;
    let mut acc = [0.0f64; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += f64::from(x) * f64::from(x);
        }
    }
    for (a, &x) in acc.iter_mut().zip(tail) {
        *a += f64::from(x) * f64::from(x);
    }
    let norm = acc.iter().sum::<f64>().sqrt();
    if norm > 0.0 {
        let inv = (1.0 / norm) as f32;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn norm(v: &[f32]) -> f32 {
        v.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    fn sim(e: &HashingEmbedder, a: &str, b: &str) -> f32 {
        cos(&e.embed(a), &e.embed(b))
    }

    const SAMPLE: &str = "forklift operator in Houston, TX. night shift. skills: pallet jack, \
                          inventory, loading dock, RF scanner. certifications: OSHA-10, CDL-A";

    #[test]
    fn deterministic() {
        let e = HashingEmbedder::default();
        assert_eq!(e.embed(SAMPLE), e.embed(SAMPLE));
        assert_eq!(e.embed(SAMPLE), HashingEmbedder::new(768).unwrap().embed(SAMPLE));
    }

    #[test]
    fn stable_across_runs() {
        // Pins the hash and one vector so an accidental change (which would silently
        // invalidate every stored index) fails loudly. If a change is intended, bump NAME.
        assert_eq!(Fnv::new(NS_UNIGRAM).bytes(b"welder").finish(), 0xd8be_c5de_e268_63c0);
        let expected = [
            0.0,
            0.0,
            0.0,
            -0.136_965_78,
            0.0,
            0.394_996_67,
            0.067_099_266,
            0.0,
            0.472_462_12,
            0.399_828_28,
            -0.193_698_88,
            0.0,
            -0.330_664_66,
            -0.136_965_78,
            -0.503_244_46,
            0.136_965_78,
        ];
        let got = HashingEmbedder::new(16).unwrap().embed("cdl-a welder");
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-6, "{got:?}");
        }
    }

    #[test]
    fn dimension_and_unit_norm() {
        for dim in [16, 100, 768, 4096, 65_536] {
            let e = HashingEmbedder::new(dim).unwrap();
            for text in [SAMPLE, "a", "x", "welder", "Ärztin München", "d1.1 cdl-a 24/7"] {
                let v = e.embed(text);
                assert_eq!(v.len(), dim);
                assert!((norm(&v) - 1.0).abs() < 1e-5, "{text:?} at {dim}: {}", norm(&v));
                assert!(v.iter().all(|x| x.is_finite()));
            }
        }
    }

    #[test]
    fn empty_text_is_zero() {
        let e = HashingEmbedder::default();
        for text in ["", "   ", "\n\t", "-- , . ! ?", "…"] {
            let v = e.embed(text);
            assert_eq!(v.len(), 768);
            assert!(v.iter().all(|&x| x == 0.0), "{text:?}");
        }
        assert_eq!(e.embed_batch(&[]), Vec::<Vec<f32>>::new());
    }

    #[test]
    fn invalid_dims_rejected() {
        for dim in [0, 1, 15, 65_537, usize::MAX] {
            assert_eq!(HashingEmbedder::new(dim), Err(EmbedError::InvalidDimension { dim }));
        }
        assert!(HashingEmbedder::new(16).is_ok());
        assert!(HashingEmbedder::new(65_536).is_ok());
        assert_eq!(HashingEmbedder::default().dim(), 768);
        assert_eq!(HashingEmbedder::default().name(), "hashing-v1");
        let msg = EmbedError::InvalidDimension { dim: 3 }.to_string();
        assert!(msg.contains('3') && msg.contains("16") && msg.contains("65536"));
    }

    #[test]
    fn related_texts_are_closer() {
        let e = HashingEmbedder::default();
        let a = "forklift operator warehouse";
        let related = sim(&e, a, "forklift driver in warehouse");
        let unrelated = sim(&e, a, "registered nurse ICU");
        assert!(related > unrelated + 0.3, "{related} vs {unrelated}");
        assert!(related > 0.4, "{related}");
        assert!(unrelated.abs() < 0.2, "{unrelated}");
    }

    #[test]
    fn stems_and_trigrams_match_inflections() {
        let e = HashingEmbedder::default();
        let welders = sim(&e, "welders", "welder");
        assert!(welders > 0.4, "{welders}");
        assert!(welders > sim(&e, "welders", "cashier") + 0.3);
        assert!(sim(&e, "welding", "welder") > 0.3);
        assert!(sim(&e, "nurses", "nursing") > 0.25);
        assert!(sim(&e, "electricians", "electrician") > 0.4);
        // Typo tolerance through 3-grams.
        assert!(sim(&e, "forklfit", "forklift") > sim(&e, "forklfit", "cashier") + 0.1);
    }

    #[test]
    fn case_and_punctuation_insensitive_words() {
        let e = HashingEmbedder::default();
        assert_eq!(e.embed("Forklift OPERATOR"), e.embed("forklift operator"));
        assert_eq!(e.embed("forklift   operator"), e.embed("forklift operator"));
    }

    #[test]
    fn compounds_kept_joined_and_split() {
        let e = HashingEmbedder::default();
        // Split parts match the spaced spelling; the joined form adds an exact-match bonus.
        let joined = sim(&e, "cdl-a driver", "cdl-a truck driver");
        let spaced = sim(&e, "cdl-a driver", "cdl a driver");
        let other = sim(&e, "cdl-a driver", "cdl-b driver");
        assert!(spaced > 0.6, "{spaced}");
        assert!(joined > other, "{joined} vs {other}");
        assert!(sim(&e, "osha-10 certified", "osha 10") > 0.3);
        assert!(sim(&e, "aws d1.1 welder", "d1.1 welding") > sim(&e, "aws d1.1 welder", "pastry chef"));
    }

    #[test]
    fn bigrams_reward_word_order() {
        let e = HashingEmbedder::default();
        let same_order = sim(&e, "night shift nurse", "night shift cook");
        let swapped = sim(&e, "night shift nurse", "shift night cook");
        assert!(same_order > swapped, "{same_order} vs {swapped}");
    }

    #[test]
    fn stopwords_do_not_dominate() {
        let e = HashingEmbedder::default();
        // Two unrelated texts that share only function words stay far apart.
        let s = sim(&e, "cook in the kitchen of a hotel", "nurse in the ward of a hospital");
        assert!(s < 0.15, "{s}");
        // A lone state code that is also a stop word still embeds.
        assert!(norm(&e.embed("IN")) > 0.99);
    }

    #[test]
    fn stemmer() {
        let st = |w: &str| String::from_utf8(stem(w.as_bytes()).to_vec()).unwrap();
        assert_eq!(st("welders"), "weld");
        assert_eq!(st("welder"), "weld");
        assert_eq!(st("welding"), "weld");
        assert_eq!(st("welded"), "weld");
        assert_eq!(st("weld"), "weld");
        assert_eq!(st("electricians"), "electric");
        assert_eq!(st("machinists"), "machin");
        assert_eq!(st("shipping"), "ship");
        assert_eq!(st("filling"), "fill");
        assert_eq!(st("nurse"), "nurs");
        assert_eq!(st("nursing"), "nurs");
        assert_eq!(st("class"), "class");
        assert_eq!(st("cdl"), "cdl");
        assert_eq!(st("osha10"), "osha10");
        assert_eq!(st("care"), "care");
    }

    #[test]
    fn batch_matches_single() {
        let e = HashingEmbedder::new(64).unwrap();
        let texts = ["welder", "", SAMPLE];
        let batch = e.embed_batch(&texts);
        assert_eq!(batch.len(), 3);
        for (t, v) in texts.iter().zip(&batch) {
            assert_eq!(&e.embed(t), v);
        }
    }
}
