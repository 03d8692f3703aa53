//! [`WordPiece`]: BERT's uncased tokenizer (basic tokenizer + greedy longest-match
//! WordPiece) without the `tokenizers` machinery, for the static embedder's hot path.
//!
//! It reproduces what all-MiniLM-L6-v2's `tokenizer.json` does to a text (checked against
//! `tokenizers` in `dataflow/tests/embed_models.rs`), minus special tokens, padding and
//! truncation, which a bag of token vectors does not need.
//!
//! # Notes
//! Basic tokenizer, as in BERT: control characters are dropped, whitespace splits, CJK
//! ideographs become words of their own, text is lower-cased and accents stripped (NFD, then
//! combining marks removed), and every punctuation character is a word of its own. Then each
//! word is split greedily into the longest vocabulary prefix, continuing with `##` pieces; a
//! word with no complete split (or longer than 100 characters) is a single unknown token.
//! Punctuation is ASCII punctuation or any other character that is neither alphanumeric nor
//! whitespace nor a control character — a slight superset of BERT's Unicode `P*` classes
//! (it also splits symbols such as `€`), which only matters for text the corpus never has.

use std::collections::HashMap;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Words longer than this (in characters) are unknown, as in BERT.
pub const MAX_WORD_CHARS: usize = 100;

/// Uncased BERT WordPiece over a fixed vocabulary.
#[derive(Clone, Debug)]
pub struct WordPiece {
    /// Word-initial pieces → id.
    initial: HashMap<String, u32>,
    /// `##` continuation pieces (stored without the `##`) → id.
    continuing: HashMap<String, u32>,
}

impl WordPiece {
    /// Builds the tokenizer from the vocabulary, id = position. Pieces starting with `##`
    /// continue a word.
    pub fn new(vocab: &[String]) -> Self {
        let mut initial = HashMap::with_capacity(vocab.len());
        let mut continuing = HashMap::new();
        for (id, piece) in vocab.iter().enumerate() {
            let id = id as u32;
            match piece.strip_prefix("##") {
                Some(rest) if !rest.is_empty() => continuing.entry(rest.to_owned()).or_insert(id),
                _ => initial.entry(piece.clone()).or_insert(id),
            };
        }
        WordPiece { initial, continuing }
    }

    /// Calls `f(id)` for every token of `text` that is in the vocabulary, in order; unknown
    /// words are skipped (their count is returned).
    pub fn for_each_token(&self, text: &str, mut f: impl FnMut(u32)) -> usize {
        let mut unknown = 0;
        let mut word = String::with_capacity(32);
        for_each_word(text, &mut word, |w| {
            if !self.word_pieces(w, &mut f) {
                unknown += 1;
            }
        });
        unknown
    }

    /// The token ids of `text` (unknown words left out).
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        self.for_each_token(text, |id| ids.push(id));
        ids
    }

    /// Greedy longest-match split of one normalised word; false (and nothing emitted) if
    /// the word cannot be split completely.
    fn word_pieces(&self, word: &str, f: &mut impl FnMut(u32)) -> bool {
        if word.chars().count() > MAX_WORD_CHARS {
            return false;
        }
        // Fast path: most words are whole vocabulary entries.
        if let Some(&id) = self.initial.get(word) {
            f(id);
            return true;
        }
        let mut pieces: [u32; 16] = [0; 16];
        let mut spill: Vec<u32> = Vec::new();
        let mut n = 0;
        let mut start = 0;
        while start < word.len() {
            let map = if start == 0 { &self.initial } else { &self.continuing };
            let mut end = word.len();
            let mut found = None;
            while end > start {
                if word.is_char_boundary(end) {
                    if let Some(&id) = map.get(&word[start..end]) {
                        found = Some(id);
                        break;
                    }
                }
                end -= 1;
            }
            let Some(id) = found else { return false };
            if n < pieces.len() {
                pieces[n] = id;
            } else {
                spill.push(id);
            }
            n += 1;
            start = end;
        }
        pieces[..n.min(pieces.len())].iter().chain(&spill).for_each(|&id| f(id));
        true
    }
}

/// Splits `text` into normalised words (see the module notes) and calls `f` with each.
fn for_each_word(text: &str, word: &mut String, mut f: impl FnMut(&str)) {
    fn flush(word: &mut String, f: &mut dyn FnMut(&str)) {
        if !word.is_empty() {
            f(word);
            word.clear();
        }
    }
    word.clear();
    for c in text.chars() {
        if c.is_ascii() {
            // ASCII fast path: no accents to strip.
            if c.is_ascii_alphanumeric() {
                word.push(c.to_ascii_lowercase());
            } else if c.is_ascii_punctuation() {
                flush(word, &mut f);
                let mut buf = [0u8; 4];
                f(c.encode_utf8(&mut buf));
            } else {
                // Whitespace and control characters end a word.
                flush(word, &mut f);
            }
            continue;
        }
        if c.is_whitespace() || c.is_control() || c == '\u{fffd}' {
            flush(word, &mut f);
        } else if is_cjk(c) || !c.is_alphanumeric() {
            // Combining marks are not alphanumeric but belong to the word (they are removed
            // below, like BERT's accent stripping).
            if is_combining_mark(c) {
                continue;
            }
            flush(word, &mut f);
            let mut buf = [0u8; 4];
            for d in c.to_lowercase() {
                f(d.encode_utf8(&mut buf));
            }
        } else {
            for d in c.to_lowercase().flat_map(|l| std::iter::once(l).nfd()) {
                if !is_combining_mark(d) {
                    word.push(d);
                }
            }
        }
    }
    flush(word, &mut f);
}

/// CJK ideographs, which BERT tokenizes one character at a time.
fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vec<String> {
        [
            "[PAD]", "[UNK]", "fork", "##lift", "forklift", "driver", "cd", "##l", "-", "a", ",", "cafe", "un",
            "##aff", "##able", ".",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn words(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut w = String::new();
        for_each_word(text, &mut w, |x| out.push(x.to_owned()));
        out
    }

    #[test]
    fn basic_tokenizer() {
        assert_eq!(words("CDL-A Driver, Houston."), ["cdl", "-", "a", "driver", ",", "houston", "."]);
        assert_eq!(words("  Café\tMÜNCHEN\n"), ["cafe", "munchen"]);
        assert_eq!(words("d1.1 osha-10"), ["d1", ".", "1", "osha", "-", "10"]);
        assert_eq!(words(""), Vec::<String>::new());
    }

    #[test]
    fn greedy_longest_match() {
        let wp = WordPiece::new(&vocab());
        assert_eq!(wp.tokenize("forklift"), [4]);
        assert_eq!(wp.tokenize("CDL-A driver"), [6, 7, 8, 9, 5]);
        assert_eq!(wp.tokenize("unaffable"), [12, 13, 14]);
        assert_eq!(wp.tokenize("Café"), [11]);
        // "unx" cannot be split completely: the whole word is unknown.
        let mut ids = Vec::new();
        assert_eq!(wp.for_each_token("unx driver", |i| ids.push(i)), 1);
        assert_eq!(ids, [5]);
        assert!(wp.tokenize(&"a".repeat(MAX_WORD_CHARS + 1)).is_empty());
    }
}
