//! Outreach drafts: the email and SMS bodies sent to the message validator.
//!
//! Drafts name the worker and the job but carry no PII beyond the recipient address:
//! no phone numbers in emails, no dates of birth, no ids. The SMS carries the agency's
//! call-back number `555-123-4567` on purpose: it is shaped almost like an SSN
//! (`NNN-NN-NNNN`) and the validator must not flag it.

use crate::queries::WorkerDoc;
use crate::wire::ValidateMessageRequest;

/// The agency call-back number every SMS contains.
pub const CALLBACK: &str = "555-123-4567";

/// SMS length limit (one GSM segment).
pub const SMS_MAX_CHARS: usize = 160;

/// An outreach email to `w` about a shift in its role and city.
pub fn draft_email(w: &WorkerDoc) -> ValidateMessageRequest {
    ValidateMessageRequest {
        kind: "email".into(),
        to: w.email.clone(),
        subject: format!("Open {} shift in {}", w.role, w.city),
        body: format!(
            "Hi {},\n\nWe have an open {} shift in {}, {} that matches your experience. \
             Reply to this email if you would like to be considered and we will send the details.\n\n\
             Thanks,\nThe staffing team",
            w.first_name(),
            w.role,
            w.city,
            w.state
        ),
        worker_id: w.id.clone(),
    }
}

/// An SMS to `w`'s phone, at most [`SMS_MAX_CHARS`] characters, containing [`CALLBACK`].
pub fn draft_sms(w: &WorkerDoc) -> ValidateMessageRequest {
    let candidates = [
        format!(
            "Hi {}, {} shift open in {} {}. Call {CALLBACK} to confirm. Reply STOP to opt out.",
            w.first_name(),
            w.role,
            w.city,
            w.state
        ),
        format!("{} shift open in {}. Call {CALLBACK} to confirm.", w.role, w.city),
    ];
    let body = candidates
        .into_iter()
        .find(|b| b.chars().count() <= SMS_MAX_CHARS)
        .unwrap_or_else(|| format!("Shift open near you. Call {CALLBACK} to confirm."));
    ValidateMessageRequest {
        kind: "sms".into(),
        to: w.phone.clone(),
        subject: String::new(),
        body,
        worker_id: w.id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::WorkerDoc;

    fn worker(name: &str, role: &str) -> WorkerDoc {
        WorkerDoc {
            id: "w-0000001".into(),
            name: name.into(),
            role: role.into(),
            city: "Houston".into(),
            state: "TX".into(),
            skills: vec![],
            certifications: vec![],
            years_experience: 1,
            hourly_rate_cents: 1,
            shift: "day".into(),
            available_from: "2026-01-01".into(),
            reliability_milli: 1,
            phone: "555-010-1234".into(),
            email: "a@example.com".into(),
            updated_at: None,
        }
    }

    #[test]
    fn sms_fits_and_has_callback() {
        for (name, role) in [("Ana Ruiz", "cna"), ("X", &"very long role name ".repeat(12))] {
            let sms = draft_sms(&worker(name, role));
            assert!(sms.body.chars().count() <= SMS_MAX_CHARS, "{}", sms.body);
            assert!(sms.body.contains("Call 555-123-4567"));
            assert_eq!(sms.kind, "sms");
            assert_eq!(sms.to, "555-010-1234");
        }
    }

    #[test]
    fn email_names_worker_without_phone() {
        let e = draft_email(&worker("Ana Ruiz", "welder"));
        assert!(e.body.contains("Hi Ana"));
        assert!(!e.body.contains("555"));
        assert_eq!(e.to, "a@example.com");
    }
}
