//! Reading a `_bulk` answer item by item, and deciding what becomes of each event.
//!
//! Elasticsearch answers a bulk request as a whole (the request's status) and per item (each
//! action's status, in request order). Only the item outcomes below exist:
//! accepted (2xx); a duplicate (409: a `create` for an id that exists, or a version conflict) —
//! counted, not retried, since sending it again cannot succeed and the document is there;
//! retry later (429 and 5xx: the cluster is busy or a shard is unavailable) — only those items are
//! sent again; and dead letter (any other 4xx: a mapping conflict, an invalid index name, a
//! missing ingest pipeline) — the event itself is wrong for this cluster and goes to the dead
//! letter queue with Elasticsearch's reason. `dlq_custom_codes` moves further statuses (a 5xx
//! a cluster returns for a bad document, say) to the dead letter queue.

use super::bulk::ActionKind;
use serde::Deserialize;

/// What becomes of one event after Elasticsearch answered for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkItemOutcome {
    Accepted,
    Duplicate,
    RetryLater { status: u16 },
    DeadLetter { status: u16, error: String },
}

/// Statuses that always mean "send it again later".
pub fn is_retryable(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

pub fn classify(status: u16, error: Option<&ItemError>, dlq_custom_codes: &[u16]) -> BulkItemOutcome {
    if (200..=299).contains(&status) {
        return BulkItemOutcome::Accepted;
    }
    if dlq_custom_codes.contains(&status) {
        return BulkItemOutcome::DeadLetter { status, error: describe(error) };
    }
    match status {
        409 => BulkItemOutcome::Duplicate,
        s if is_retryable(s) => BulkItemOutcome::RetryLater { status },
        _ => BulkItemOutcome::DeadLetter { status, error: describe(error) },
    }
}

/// Elasticsearch's error as one sentence: `type: reason; caused by: type: reason`.
pub fn describe(error: Option<&ItemError>) -> String {
    let Some(mut e) = error else { return "no error given".to_string() };
    let mut out = String::new();
    loop {
        if !out.is_empty() {
            out.push_str("; caused by: ");
        }
        out.push_str(&e.kind);
        if let Some(r) = &e.reason {
            out.push_str(": ");
            out.push_str(r);
        }
        match &e.caused_by {
            Some(c) => e = c,
            None => return out,
        }
    }
}

#[derive(Debug, Deserialize)]
struct BulkSummary {
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    items: Vec<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
pub struct BulkResponse {
    #[serde(default)]
    pub errors: bool,
    #[serde(default)]
    pub items: Vec<std::collections::HashMap<String, ItemResult>>,
}

#[derive(Debug, Deserialize)]
pub struct ItemResult {
    pub status: u16,
    #[serde(default)]
    pub error: Option<ItemError>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ItemError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub caused_by: Option<Box<ItemError>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResponseError {
    #[error("the bulk response is not valid JSON: {0}")]
    Json(String),
    #[error("the bulk response has {got} items for {sent} actions")]
    ItemCount { got: usize, sent: usize },
}

/// The outcome of each item of a request that was answered 200, in request order.
pub fn outcomes(body: &[u8], kinds: &[ActionKind], dlq_custom_codes: &[u16]) -> Result<Vec<BulkItemOutcome>, ResponseError> {
    // The common answer, every item accepted, is read without building each item.
    let summary: BulkSummary = serde_json::from_slice(body).map_err(|e| ResponseError::Json(e.to_string()))?;
    if !summary.errors && summary.items.len() == kinds.len() {
        return Ok(vec![BulkItemOutcome::Accepted; kinds.len()]);
    }
    let parsed: BulkResponse = serde_json::from_slice(body).map_err(|e| ResponseError::Json(e.to_string()))?;
    if !parsed.errors && parsed.items.is_empty() && !kinds.is_empty() {
        // `filter_path` or a proxy may strip the items; without errors, every item was accepted.
        return Ok(vec![BulkItemOutcome::Accepted; kinds.len()]);
    }
    if parsed.items.len() != kinds.len() {
        return Err(ResponseError::ItemCount { got: parsed.items.len(), sent: kinds.len() });
    }
    Ok(parsed
        .items
        .iter()
        .map(|item| match item.values().next() {
            Some(r) => classify(r.status, r.error.as_ref(), dlq_custom_codes),
            None => BulkItemOutcome::RetryLater { status: 0 },
        })
        .collect())
}

pub use crate::outputs::http::status_label;

/// The same, as a failure reason for item-level counts (`status_429`...).
pub fn item_reason(status: u16) -> &'static str {
    match status {
        400 => "status_400",
        404 => "status_404",
        429 => "status_429",
        500 => "status_500",
        502 => "status_502",
        503 => "status_503",
        504 => "status_504",
        s if (400..500).contains(&s) => "status_4xx",
        s if (500..600).contains(&s) => "status_5xx",
        _ => "status_other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = r#"{"took":3,"errors":true,"items":[
      {"index":{"_index":"logs-a","_id":"1","status":201,"result":"created"}},
      {"create":{"_index":"logs-a","_id":"2","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[2]: version conflict, document already exists"}}},
      {"index":{"_index":"logs-a","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}},
      {"index":{"_index":"logs-a","status":400,"error":{"type":"document_parsing_exception","reason":"[1:30] failed to parse field [n] of type [long]","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"abc\""}}}},
      {"index":{"_index":"Bad","status":400,"error":{"type":"invalid_index_name_exception","reason":"Invalid index name [Bad], must be lowercase"}}},
      {"index":{"_index":"logs-a","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}}
    ]}"#;

    #[test]
    fn each_item_gets_its_own_outcome() {
        let kinds = [ActionKind::Index, ActionKind::Create, ActionKind::Index, ActionKind::Index, ActionKind::Index, ActionKind::Index];
        let got = outcomes(MIXED.as_bytes(), &kinds, &[]).unwrap();
        assert_eq!(
            got,
            vec![
                BulkItemOutcome::Accepted,
                BulkItemOutcome::Duplicate,
                BulkItemOutcome::RetryLater { status: 429 },
                BulkItemOutcome::DeadLetter {
                    status: 400,
                    error: "document_parsing_exception: [1:30] failed to parse field [n] of type [long]; caused by: illegal_argument_exception: For input string: \"abc\"".into()
                },
                BulkItemOutcome::DeadLetter { status: 400, error: "invalid_index_name_exception: Invalid index name [Bad], must be lowercase".into() },
                BulkItemOutcome::RetryLater { status: 503 },
            ]
        );
    }

    #[test]
    fn custom_codes_send_more_statuses_to_the_dead_letter_queue() {
        let kinds = [ActionKind::Index; 6];
        let got = outcomes(MIXED.as_bytes(), &kinds, &[503]).unwrap();
        assert!(matches!(got[5], BulkItemOutcome::DeadLetter { status: 503, .. }));
        assert_eq!(got[2], BulkItemOutcome::RetryLater { status: 429 });
    }

    #[test]
    fn malformed_or_short_answers_are_errors_not_guesses() {
        assert!(matches!(outcomes(b"<html>", &[ActionKind::Index], &[]), Err(ResponseError::Json(_))));
        let one = r#"{"errors":true,"items":[{"index":{"status":201}}]}"#;
        assert_eq!(outcomes(one.as_bytes(), &[ActionKind::Index; 2], &[]), Err(ResponseError::ItemCount { got: 1, sent: 2 }));
        let short_ok = r#"{"errors":false,"items":[{"index":{"status":201}}]}"#;
        assert_eq!(outcomes(short_ok.as_bytes(), &[ActionKind::Index; 2], &[]), Err(ResponseError::ItemCount { got: 1, sent: 2 }));
        let all_ok = r#"{"took":2,"errors":false,"items":[{"index":{"status":201}},{"create":{"status":201}}]}"#;
        assert_eq!(outcomes(all_ok.as_bytes(), &[ActionKind::Index, ActionKind::Create], &[]).unwrap(), vec![BulkItemOutcome::Accepted; 2]);
        let stripped = r#"{"took":1,"errors":false}"#;
        assert_eq!(outcomes(stripped.as_bytes(), &[ActionKind::Index; 2], &[]).unwrap(), vec![BulkItemOutcome::Accepted; 2]);
    }
}
