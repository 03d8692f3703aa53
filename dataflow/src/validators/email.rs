//! The outreach (email / SMS) validator: a draft must carry no SSN-like numbers, no
//! unfilled template placeholders, a plausible recipient, a non-empty body, fit in one
//! SMS when it is one, and refer to a live worker.
//!
//! Hand-written byte scanners rather than regexes: the SSN rule needs a flanking-digit
//! guard (look-around), and the scanners stay allocation-free on the happy path.

use serde::{Deserialize, Serialize};

use super::Violation;
use crate::record::WorkerRecord;

/// Longest SMS body accepted, in characters (Unicode scalar values, not bytes).
pub const SMS_MAX_CHARS: usize = 160;

/// Longest placeholder content we look for; longer bracketed spans are prose.
const MAX_PLACEHOLDER_LEN: usize = 64;

/// Words that, in any case, are placeholders when bracketed: `[Name]`, `[first name]`.
const PLACEHOLDER_WORDS: &[&str] = &[
    "name",
    "first name",
    "firstname",
    "last name",
    "lastname",
    "full name",
    "worker",
    "worker name",
    "company",
    "client",
    "date",
    "start date",
    "time",
    "city",
    "state",
    "role",
    "position",
    "phone",
    "email",
    "rate",
    "pay",
    "shift",
    "location",
    "address",
];

/// Delivery channel of a draft.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// Email: `to` is an address; `subject` is checked like the body.
    Email,
    /// SMS: `to` is a phone number; the body is limited to [`SMS_MAX_CHARS`]; any
    /// `subject` is ignored because it is never sent.
    Sms,
}

/// An outreach message drafted for one worker, before it is sent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OutreachDraft {
    /// Channel.
    pub kind: MessageKind,
    /// Recipient: email address or phone number, per `kind`.
    pub to: String,
    /// Email subject (ignored for SMS).
    pub subject: Option<String>,
    /// Message text.
    pub body: String,
    /// Id of the worker the message is for.
    pub worker_id: String,
}

/// Checks an outreach draft; `worker` is the live record for `draft.worker_id` (None if
/// unknown or deleted). Returns every violation found, in a stable order; empty = OK.
pub fn validate_outreach(draft: &OutreachDraft, worker: Option<&WorkerRecord>) -> Vec<Violation> {
    let mut out = Vec::new();

    let to = draft.to.trim();
    if to.is_empty() {
        out.push(Violation::missing_recipient());
    } else {
        let problem = match draft.kind {
            MessageKind::Email => email_address_problem(to),
            MessageKind::Sms => phone_number_problem(to),
        };
        if let Some(reason) = problem {
            out.push(Violation::invalid_recipient(reason));
        }
    }

    if worker.is_none() {
        out.push(Violation::unknown_worker(&draft.worker_id));
    }

    if draft.body.trim().is_empty() {
        out.push(Violation::empty_body());
    }

    if draft.kind == MessageKind::Sms {
        let chars = draft.body.chars().count();
        if chars > SMS_MAX_CHARS {
            out.push(Violation::sms_too_long(chars));
        }
    }

    // The subject is only checked where it is actually sent.
    let subject = match draft.kind {
        MessageKind::Email => draft.subject.as_deref(),
        MessageKind::Sms => None,
    };
    let fields = [("subject", subject), ("body", Some(draft.body.as_str()))];

    for (name, text) in fields {
        let n = text.map_or(0, count_ssn_like);
        if n > 0 {
            out.push(Violation::ssn_like(name, n));
        }
    }
    for (name, text) in fields {
        let found = text.map(find_placeholders).unwrap_or_default();
        if !found.is_empty() {
            out.push(Violation::unfilled_placeholder(name, &found));
        }
    }
    out
}

/// Why `to` (trimmed, non-empty) is not a plausible single email address, if it isn't.
fn email_address_problem(to: &str) -> Option<&'static str> {
    if to.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("must be a single email address without spaces");
    }
    let mut parts = to.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Some("must contain exactly one `@`");
    };
    if local.is_empty() {
        return Some("has an empty local part before `@`");
    }
    if !domain.contains('.') {
        return Some("must have a domain containing a dot");
    }
    if domain.split('.').any(str::is_empty) {
        return Some("has an empty label in its domain");
    }
    if to.contains([',', ';', '<', '>', '(', ')', '[', ']', '"']) {
        return Some("contains characters not allowed in an address");
    }
    None
}

/// Why `to` (trimmed, non-empty) is not a plausible phone number, if it isn't.
fn phone_number_problem(to: &str) -> Option<&'static str> {
    if !to.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '.')) {
        return Some("must be a phone number (digits, spaces, `+-().` only)");
    }
    let digits = to.bytes().filter(u8::is_ascii_digit).count();
    if digits == 10 || digits == 11 {
        None
    } else {
        Some("must be a phone number with 10 or 11 digits")
    }
}

/// Counts SSN-shaped numbers in `s`: `NNN-NN-NNNN` with each separator one of `-`, ` `,
/// `.` (both present), or 9 bare digits standing alone.
///
/// Flanking guard (as in the seed system): a match must not touch more of the same
/// number — no digit right before or after it, and no `digit-`/`digit.` before or
/// `-digit`/`.digit` after it. So `555-123-4567` (phone, 3-3-4), the 9 digits inside
/// `1234567890123`, `1234-56-7890` and `123-45-67890` are not flagged.
fn count_ssn_like(s: &str) -> usize {
    let b = s.as_bytes();
    let mut count = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && !number_continues_before(b, i) {
            if let Some(end) = match_ssn_at(b, i) {
                if !number_continues_after(b, end) {
                    count += 1;
                    i = end;
                    continue;
                }
            }
        }
        i += 1;
    }
    count
}

/// Matches an SSN shape starting at `i`; returns the end offset.
fn match_ssn_at(b: &[u8], i: usize) -> Option<usize> {
    let digits = |from: usize, n: usize| b.get(from..from + n).is_some_and(|w| w.iter().all(u8::is_ascii_digit));
    let sep = |at: usize| b.get(at).is_some_and(|c| matches!(c, b'-' | b' ' | b'.'));
    if !digits(i, 3) {
        return None;
    }
    if sep(i + 3) && digits(i + 4, 2) && sep(i + 6) && digits(i + 7, 4) {
        return Some(i + 11);
    }
    if digits(i, 9) {
        // Bare digits must stand alone as a word: `ORD123456789` is an order number.
        let alnum_before = i > 0 && b[i - 1].is_ascii_alphanumeric();
        let alnum_after = b.get(i + 9).is_some_and(u8::is_ascii_alphanumeric);
        if !alnum_before && !alnum_after {
            return Some(i + 9);
        }
    }
    None
}

fn number_continues_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_digit() || (matches!(b[i - 1], b'-' | b'.') && i > 1 && b[i - 2].is_ascii_digit()))
}

fn number_continues_after(b: &[u8], end: usize) -> bool {
    match b.get(end) {
        Some(c) if c.is_ascii_digit() => true,
        Some(b'-' | b'.') => b.get(end + 1).is_some_and(u8::is_ascii_digit),
        _ => false,
    }
}

/// Finds template placeholders left in `s`, in order of appearance: `{{...}}`,
/// `{word}`, `[[...]]`, `[UPPER_CASE]` (or a bracketed common field name such as
/// `[Name]`), `<UPPER_CASE>`, `%s` and `%(name)s`.
fn find_placeholders(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut found: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let end = match b[i] {
            b'{' if b.get(i + 1) == Some(&b'{') => find_close(b, i + 2, b"}}"),
            b'{' => span_until(b, i + 1, b'}', |c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b' ')),
            b'[' if b.get(i + 1) == Some(&b'[') => find_close(b, i + 2, b"]]"),
            b'[' => span_until(b, i + 1, b']', |c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b' '))
                .filter(|&e| is_bracket_placeholder(&s[i + 1..e - 1])),
            b'<' => span_until(b, i + 1, b'>', |c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
                .filter(|&e| b[i + 1..e - 1].iter().any(u8::is_ascii_uppercase)),
            b'%' => match b.get(i + 1) {
                Some(b's') if !b.get(i + 2).is_some_and(u8::is_ascii_alphabetic) => Some(i + 2),
                Some(b'(') => span_until(b, i + 2, b')', |c| c.is_ascii_alphanumeric() || c == b'_')
                    .filter(|&e| b.get(e) == Some(&b's'))
                    .map(|e| e + 1),
                _ => None,
            },
            _ => None,
        };
        match end {
            Some(e) => {
                // All delimiters are ASCII, so i and e are char boundaries.
                let p = &s[i..e];
                if !found.contains(&p) {
                    found.push(p);
                }
                i = e;
            }
            None => i += 1,
        }
    }
    found
}

/// From `from`, bytes satisfying `ok` then `close`; returns the offset after `close`.
/// Bounded by [`MAX_PLACEHOLDER_LEN`].
fn span_until(b: &[u8], from: usize, close: u8, ok: impl Fn(u8) -> bool) -> Option<usize> {
    let limit = b.len().min(from + MAX_PLACEHOLDER_LEN + 1);
    (from..limit).find(|&j| b[j] == close || !ok(b[j])).filter(|&j| b[j] == close).map(|j| j + 1)
}

/// Offset after the first `close` (2 bytes) within [`MAX_PLACEHOLDER_LEN`] of `from`,
/// not crossing a line break.
fn find_close(b: &[u8], from: usize, close: &[u8; 2]) -> Option<usize> {
    let limit = b.len().min(from + MAX_PLACEHOLDER_LEN + 2);
    let window = b.get(from..limit)?;
    let stop = window.iter().position(|&c| c == b'\n').unwrap_or(window.len());
    window[..stop].windows(2).position(|w| w == close).map(|p| from + p + 2)
}

/// `[FIRST_NAME]`, `[CITY]`, `[first_name]`, `[Name]` — but not `[1]` or `[sic]`.
fn is_bracket_placeholder(inner: &str) -> bool {
    let has_upper = inner.bytes().any(|c| c.is_ascii_uppercase());
    let has_lower = inner.bytes().any(|c| c.is_ascii_lowercase());
    if has_upper && !has_lower || inner.contains('_') {
        return true;
    }
    let normalised = inner.trim().to_ascii_lowercase();
    PLACEHOLDER_WORDS.contains(&normalised.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::WorkerId;

    fn worker() -> WorkerRecord {
        WorkerRecord {
            id: WorkerId("w-0000001".into()),
            name: "Ana Diaz".into(),
            role: "forklift operator".into(),
            city: "Houston".into(),
            state: "TX".into(),
            skills: vec!["pallet jack".into()],
            certifications: vec![],
            years_experience: 4,
            hourly_rate_cents: 2150,
            shift: "night".into(),
            available_from: 20_000,
            reliability_milli: 930,
            phone: "555-123-4567".into(),
            email: "ana@example.com".into(),
            updated_at: 0,
        }
    }

    fn sms(body: &str) -> OutreachDraft {
        OutreachDraft {
            kind: MessageKind::Sms,
            to: "555-123-4567".into(),
            subject: None,
            body: body.into(),
            worker_id: "w-0000001".into(),
        }
    }

    fn email(subject: Option<&str>, body: &str) -> OutreachDraft {
        OutreachDraft {
            kind: MessageKind::Email,
            to: "ana@example.com".into(),
            subject: subject.map(Into::into),
            body: body.into(),
            worker_id: "w-0000001".into(),
        }
    }

    fn codes(d: &OutreachDraft) -> Vec<String> {
        let w = worker();
        validate_outreach(d, Some(&w)).into_iter().map(|v| v.code).collect()
    }

    #[test]
    fn seed_sms_passes() {
        let d = sms("Hi Ana, a forklift shift opened in Houston. Call 555-123-4567 to confirm.");
        assert_eq!(codes(&d), Vec::<String>::new());
    }

    #[test]
    fn clean_email_passes() {
        let d = email(
            Some("Forklift shift in Houston"),
            "Hi Ana,\n\nA night forklift shift opened (5 days, $21.50/h). Reply to confirm.",
        );
        assert!(codes(&d).is_empty());
        // An empty subject is not a violation.
        assert!(codes(&email(Some(""), "Hi Ana")).is_empty());
        assert!(codes(&email(None, "Hi Ana")).is_empty());
    }

    #[test]
    fn ssn_shapes_fail() {
        for body in [
            "SSN 123-45-6789",
            "123 45 6789",
            "ssn: 123.45.6789.",
            "your id 123456789 is on file",
            "(123-45-6789)",
            "SSN#123-45-6789",
            "123-45-6789",
        ] {
            assert_eq!(codes(&sms(body)), vec!["ssn_like"], "{body:?}");
        }
        let v = validate_outreach(&sms("a 123-45-6789 b 987-65-4321"), Some(&worker()));
        assert_eq!(v, vec![Violation::ssn_like("body", 2)]);
        // The message locates, but never repeats, the number.
        assert!(!v[0].message.contains("6789"));
    }

    #[test]
    fn ssn_lookalikes_pass() {
        for body in [
            "Call 555-123-4567 to confirm.",
            "call 555 123 4567",
            "call 555.123.4567",
            "id 1234-56-7890",
            "ref 123-45-67890",
            "order 1234567890123",
            "order ORD123456789",
            "12345678 or 1234567890",
            "v1-123-45-6789",
            "ref 123-45-6789-1",
            "12-34-5678",
            "123-4-56789",
        ] {
            assert!(!codes(&sms(body)).contains(&"ssn_like".to_owned()), "{body:?}");
        }
    }

    #[test]
    fn ssn_in_email_subject_fails_but_sms_subject_ignored() {
        let v = validate_outreach(&email(Some("SSN 123-45-6789"), "Hi"), Some(&worker()));
        assert_eq!(v, vec![Violation::ssn_like("subject", 1)]);
        let mut d = sms("Hi Ana");
        d.subject = Some("SSN 123-45-6789 {name}".into());
        assert!(codes(&d).is_empty());
    }

    #[test]
    fn sms_length_counts_chars() {
        assert!(codes(&sms(&"a".repeat(160))).is_empty());
        assert_eq!(codes(&sms(&"a".repeat(161))), vec!["sms_too_long"]);
        // 160 two-byte chars = 320 bytes: still fits.
        assert!(codes(&sms(&"é".repeat(160))).is_empty());
        assert_eq!(codes(&sms(&"é".repeat(161))), vec!["sms_too_long"]);
        assert!(codes(&sms(&"👷".repeat(160))).is_empty());
        // Email has no length limit.
        assert!(codes(&email(None, &"a".repeat(5000))).is_empty());
    }

    #[test]
    fn placeholders_fail() {
        for body in [
            "Hi {{first_name}}, a shift opened",
            "Hi {{ name }}",
            "Hi {name}",
            "Hi {0}",
            "Hi {}",
            "Hi [FIRST_NAME]",
            "Hi [NAME], shift in [CITY 2]",
            "Hi [[name]]",
            "Hi [Name]",
            "Hi [first name]",
            "Hi <NAME>",
            "Hi <FIRST_NAME>!",
            "Hi %s, see you",
            "Hi %s",
            "50%s",
            "Hi %(name)s",
            "Pay is ${rate}/h",
        ] {
            assert_eq!(codes(&sms(body)), vec!["unfilled_placeholder"], "{body:?}");
        }
        let v = validate_outreach(
            &email(Some("Shift for {name}"), "Hi [FIRST_NAME] and [FIRST_NAME], %s"),
            Some(&worker()),
        );
        assert_eq!(
            v,
            vec![
                Violation::unfilled_placeholder("subject", &["{name}"]),
                Violation::unfilled_placeholder("body", &["[FIRST_NAME]", "%s"]),
            ]
        );
    }

    #[test]
    fn placeholder_lookalikes_pass() {
        for body in [
            "Pay is 100% guaranteed",
            "Rates: 3 < 5 > 2",
            "See [1] and [sic]",
            "a <3 b",
            "it's 100%sure",
            "<b>bold</b>",
            "we pay {well over minimum wage, including overtime, weekends and holidays, paid every friday}",
            "Hi {",
            "Hi [[ unclosed",
        ] {
            let c = codes(&sms(body));
            assert!(c.is_empty(), "{body:?}: {c:?}");
        }
    }

    #[test]
    fn empty_body_fails() {
        assert_eq!(codes(&sms("")), vec!["empty_body"]);
        assert_eq!(codes(&email(Some("Hi"), " \n\t ")), vec!["empty_body"]);
        assert!(codes(&sms("ok")).is_empty());
    }

    #[test]
    fn recipient_rules() {
        let with_to = |kind: MessageKind, to: &str| {
            let mut d = if kind == MessageKind::Sms { sms("Hi") } else { email(None, "Hi") };
            d.to = to.into();
            codes(&d)
        };
        assert_eq!(with_to(MessageKind::Email, ""), vec!["missing_recipient"]);
        assert_eq!(with_to(MessageKind::Sms, "  "), vec!["missing_recipient"]);
        for ok in ["ana@example.com", "a.b+tag@mail.example.co.uk", " ana@example.com "] {
            assert!(with_to(MessageKind::Email, ok).is_empty(), "{ok:?}");
        }
        for bad in [
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "ana@@example.com",
            "a@b@example.com",
            "ana@example.",
            "ana@.example.com",
            "ana@example..com",
            "ana diaz@example.com",
            "ana@example.com,bob@example.com",
            "555-123-4567",
        ] {
            assert_eq!(with_to(MessageKind::Email, bad), vec!["invalid_recipient"], "{bad:?}");
        }
        for ok in ["555-123-4567", "5551234567", "+1 (555) 123-4567", "1-555-123-4567", "555.123.4567"] {
            assert!(with_to(MessageKind::Sms, ok).is_empty(), "{ok:?}");
        }
        for bad in ["555-1234", "ana@example.com", "555-123-4567 ext 9", "+44 20 7946 09581", "123456789012"] {
            assert_eq!(with_to(MessageKind::Sms, bad), vec!["invalid_recipient"], "{bad:?}");
        }
    }

    #[test]
    fn unknown_worker_fails() {
        let d = sms("Hi Ana");
        let v = validate_outreach(&d, None);
        assert_eq!(v, vec![Violation::unknown_worker("w-0000001")]);
        assert!(v[0].message.contains("w-0000001"));
        assert!(validate_outreach(&d, Some(&worker())).is_empty());
    }

    #[test]
    fn everything_wrong_at_once() {
        let d = OutreachDraft {
            kind: MessageKind::Sms,
            to: "nope".into(),
            subject: None,
            body: format!("{{name}} SSN 123-45-6789 {}", "x".repeat(200)),
            worker_id: "ghost".into(),
        };
        let got: Vec<String> = validate_outreach(&d, None).into_iter().map(|v| v.code).collect();
        assert_eq!(got, ["invalid_recipient", "unknown_worker", "sms_too_long", "ssn_like", "unfilled_placeholder"]);
    }

    #[test]
    fn message_kind_is_ordered_and_copy() {
        let k = MessageKind::Sms;
        let k2 = k;
        assert_eq!(k, k2);
        assert!(MessageKind::Email < MessageKind::Sms);
    }
}
