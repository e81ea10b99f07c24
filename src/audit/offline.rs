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
    if let Some(problem) = checkpoint.and_then(|(cp, public)| unsigned(cp, public)) {
        report.broken = Some((0, problem.to_string()));
        return Ok(report);
    }
    let checkpoint = checkpoint.map(|(cp, _)| cp);
    let mut previous: Option<(i64, String)> = None;
    let mut tenant = None;
    let mut through_checkpoint = false;
    for (i, text) in input.lines().enumerate() {
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let line: ExportLine = match serde_json::from_str(&text) {
            Ok(line) => line,
            Err(e) => {
                report.broken = Some((i + 1, format!("not an export line: {e}")));
                return Ok(report);
            }
        };
        report.lines += 1;
        let seq = line.event.tenant_sequence;
        let checked = if *tenant.get_or_insert(line.tenant_id) != line.tenant_id {
            Err("a line of another firm".to_string())
        } else {
            check_line(&line, previous.as_ref(), checkpoint)
        };
        let hash = match checked {
            Ok(hash) => hash,
            Err(problem) => {
                report.broken = Some((i + 1, problem));
                return Ok(report);
            }
        };
        through_checkpoint |= checkpoint.is_some_and(|cp| seq == cp.chain_seq);
        report.first_seq.get_or_insert(seq);
        report.last_seq = Some(seq);
        report.head_hash = Some(hash.clone());
        previous = Some((seq, hash));
    }
    if let Some(cp) = checkpoint {
        if tenant.is_some_and(|t| t != cp.tenant_id) {
            report.broken = Some((0, "the checkpoint is another firm's".to_string()));
        } else if !through_checkpoint {
            let missing = format!(
                "the export does not contain the checkpoint's link {}",
                cp.chain_seq
            );
            report.broken = Some((0, missing));
        }
    }
    Ok(report)
}

/// What is wrong with a checkpoint that `public` did not sign, if anything.
fn unsigned(cp: &Checkpoint, public: &VerifyingKey) -> Option<&'static str> {
    if key_id_of(public) != cp.key_id {
        Some("the checkpoint names another key than the one given")
    } else if !signature_valid(public, cp.text().as_bytes(), &cp.signature) {
        Some("the checkpoint's signature is not valid (forged or altered)")
    } else {
        None
    }
}

/// One line against the one before it (its link number and hash) and the checkpoint: the
/// line's hash (hex), or what is wrong with it.
fn check_line(
    line: &ExportLine,
    previous: Option<&(i64, String)>,
    checkpoint: Option<&Checkpoint>,
) -> Result<String, String> {
    let seq = line.event.tenant_sequence;
    if line.chain_seq.is_some_and(|chain_seq| chain_seq != seq) {
        return Err("chain_seq and tenant_sequence differ".into());
    }
    match previous {
        Some((prev_seq, _)) if seq != prev_seq + 1 => {
            return Err(format!("link {} is missing (found {seq})", prev_seq + 1))
        }
        Some((_, prev_hash)) if &line.event.prev_hash != prev_hash => {
            return Err("does not link to the line before it".into())
        }
        None if seq == 1 && line.event.prev_hash != hex::encode(GENESIS) => {
            return Err("the first link must follow 32 zero bytes".into())
        }
        _ => {}
    }
    let prev = hex::decode(&line.event.prev_hash).map_err(|_| "prev_hash is not hex")?;
    let hash = hex::encode(link_hash(&prev, seq, &hashed_body(line)));
    if hash != line.event.event_hash {
        return Err("content does not match its hash (altered)".into());
    }
    // The readable payload must be the hashed one, but for sealed personal fields (shown
    // opened, or `"[erased]"`: offline, without the keys, only their place can be checked).
    let stored: Option<serde_json::Value> = serde_json::from_str(&line.payload_text).ok();
    let inner = stored
        .as_ref()
        .map(|v| v.get(&line.event.event_type).unwrap_or(v));
    if !inner.is_some_and(|stored| shows(stored, &line.event.payload)) {
        return Err("payload differs from the hashed payload_text".into());
    }
    if let Some(cp) = checkpoint.filter(|cp| seq == cp.chain_seq) {
        if hash != cp.head_hash || line.event.position != cp.position {
            return Err("the chain does not pass through the checkpoint's head (rewritten)".into());
        }
    }
    Ok(hash)
}
/// Whether `shown` is `stored` with its sealed personal fields opened.
fn shows(stored: &serde_json::Value, shown: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (stored, shown) {
        (Value::String(sealed), Value::String(_)) if eventlog::personal::is_sealed(sealed) => true,
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|shown| shows(v, shown)))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(v, w)| shows(v, w))
        }
        _ => stored == shown,
    }
}
