//! Checking an export with no database (`portal-accounts audit verify-export`): every line's
//! hash recomputed from the fields it carries, every link, and optionally that the chain
//! passes through a signed checkpoint.

use std::io::BufRead;

use ed25519_dalek::VerifyingKey;

use super::chain::{link_hash, GENESIS};
use super::checkpoint::Checkpoint;
use super::key::{key_id_of, signature_valid};
use super::ExportLine;

/// What the check found.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    pub lines: usize,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub head_hash: Option<String>,
    /// `None` when everything holds; else the line (1-based) and what is wrong.
    pub broken: Option<(usize, String)>,
}

/// The canonical text after `chain_seq` that an export line's hash covers.
pub fn hashed_body(line: &ExportLine) -> String {
    let e = &line.event;
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
        e.position,
        e.stream_type,
        e.stream_id,
        e.sequence,
        e.event_type,
        e.event_version,
        line.recorded_at_us,
        line.payload_text,
        line.metadata_text
    )
}

/// Checks an export read from `input`; with `checkpoint` (and the key that signed it),
/// also that the export's chain passes through its head.
pub fn verify_export(
    input: impl BufRead,
    checkpoint: Option<(&Checkpoint, &VerifyingKey)>,
) -> std::io::Result<Report> {
    let mut report = Report {
        lines: 0,
        first_seq: None,
        last_seq: None,
        head_hash: None,
        broken: None,
    };
    // A checkpoint counts only if it is what the key signed.
    if let Some((cp, public)) = checkpoint {
        let problem = if key_id_of(public) != cp.key_id {
            Some("the checkpoint names another key than the one given")
        } else if !signature_valid(public, cp.text().as_bytes(), &cp.signature) {
            Some("the checkpoint's signature is not valid (forged or altered)")
        } else {
            None
        };
        if let Some(problem) = problem {
            report.broken = Some((0, problem.to_string()));
            return Ok(report);
        }
    }
    let mut previous: Option<(i64, String)> = None;
    let mut tenant = None;
    let mut through_checkpoint = false;
    for (i, text) in input.lines().enumerate() {
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let fail = |report: &mut Report, why: String| {
            report.broken = Some((n, why));
        };
        let line: ExportLine = match serde_json::from_str(&text) {
            Ok(line) => line,
            Err(e) => {
                fail(&mut report, format!("not an export line: {e}"));
                return Ok(report);
            }
        };
        report.lines += 1;
        let seq = line.event.tenant_sequence;
        if *tenant.get_or_insert(line.tenant_id) != line.tenant_id {
            fail(&mut report, "a line of another firm".into());
            return Ok(report);
        }
        if let Some((prev_seq, prev_hash)) = &previous {
            if seq != prev_seq + 1 {
                fail(
                    &mut report,
                    format!("link {} is missing (found {seq})", prev_seq + 1),
                );
                return Ok(report);
            }
            if &line.event.prev_hash != prev_hash {
                fail(&mut report, "does not link to the line before it".into());
                return Ok(report);
            }
        } else if seq == 1 && line.event.prev_hash != hex::encode(GENESIS) {
            fail(
                &mut report,
                "the first link must follow 32 zero bytes".into(),
            );
            return Ok(report);
        }
        let Ok(prev) = hex::decode(&line.event.prev_hash) else {
            fail(&mut report, "prev_hash is not hex".into());
            return Ok(report);
        };
        let hash = hex::encode(link_hash(&prev, seq, &hashed_body(&line)));
        if hash != line.event.event_hash {
            fail(
                &mut report,
                "content does not match its hash (altered)".into(),
            );
            return Ok(report);
        }
        // The readable payload must be the hashed one.
        let stored: Option<serde_json::Value> = serde_json::from_str(&line.payload_text).ok();
        let inner = stored
            .as_ref()
            .map(|v| v.get(&line.event.event_type).unwrap_or(v));
        if inner != Some(&line.event.payload) {
            fail(
                &mut report,
                "payload differs from the hashed payload_text".into(),
            );
            return Ok(report);
        }
        if let Some((cp, _)) = checkpoint {
            if seq == cp.chain_seq {
                if hash != cp.head_hash || line.event.position != cp.position {
                    fail(
                        &mut report,
                        "the chain does not pass through the checkpoint's head (rewritten)".into(),
                    );
                    return Ok(report);
                }
                through_checkpoint = true;
            }
        }
        report.first_seq.get_or_insert(seq);
        report.last_seq = Some(seq);
        report.head_hash = Some(hash.clone());
        previous = Some((seq, hash));
    }
    if let Some((cp, _)) = checkpoint {
        let problem = if tenant.is_some_and(|t| t != cp.tenant_id) {
            Some("the checkpoint is another firm's".to_string())
        } else if !through_checkpoint {
            Some(format!(
                "the export does not contain the checkpoint's link {}",
                cp.chain_seq
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            report.broken = Some((0, problem));
        }
    }
    Ok(report)
}
