//! Reading a `_bulk` answer item by item.
//!
//! A 200 answer may still carry failures: with `"errors": true` each item
//! of `items` (one per action, in request order) has its own `status`.
//! Items that succeeded are done; those that failed with 408, 429 or a
//! 5xx are worth sending again; any other failure (a mapping conflict, a
//! bad document) never will succeed and is dropped. A `create` that
//! answers 409 means the document is already stored (a retry of a
//! request whose answer was lost, with `generate_id`), so it counts as
//! delivered.

use serde_json::Value;
use sluice_core::net::http_client::is_retryable;

/// What became of each item of one bulk request.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ItemOutcomes {
    /// Indexes (in request order) of the items to send again.
    pub retry: Vec<usize>,
    /// How many were refused for good.
    pub dropped: usize,
    /// The first failure's status and reason, for the log.
    pub first_failure: Option<String>,
}

/// Why an answer could not be read item by item.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum AnswerError {
    /// Not JSON, or not the bulk answer's shape.
    #[error("bulk answer is not readable; {0}")]
    Unreadable(String),
    /// A different number of items than actions sent.
    #[error("bulk answer has {got} items for {sent} actions")]
    ItemCount { got: usize, sent: usize },
}

/// Reads a 2xx bulk answer for `sent` actions.
///
/// # Errors
/// The answer is not JSON of the bulk shape, or its `items` do not match
/// the actions one for one; the caller then retries the whole request.
pub(crate) fn read(body: &[u8], sent: usize) -> Result<ItemOutcomes, AnswerError> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|e| AnswerError::Unreadable(e.to_string()))?;
    if answer.get("errors").and_then(Value::as_bool) == Some(false) {
        return Ok(ItemOutcomes::default());
    }
    let items = answer
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| AnswerError::Unreadable("no items array".into()))?;
    if items.len() != sent {
        return Err(AnswerError::ItemCount {
            got: items.len(),
            sent,
        });
    }
    let mut outcomes = ItemOutcomes::default();
    for (i, item) in items.iter().enumerate() {
        let (operation, result) = item
            .as_object()
            .and_then(|o| o.iter().next())
            .ok_or_else(|| AnswerError::Unreadable(format!("item {i} is not an object")))?;
        let status = result.get("status").and_then(Value::as_u64).unwrap_or(0);
        let status = u16::try_from(status).unwrap_or(0);
        if (200..300).contains(&status) || (status == 409 && operation == "create") {
            continue;
        }
        outcomes
            .first_failure
            .get_or_insert_with(|| format!("item status {status}; {}", error_text(result)));
        match hyper::StatusCode::from_u16(status) {
            Ok(code) if is_retryable(code) => outcomes.retry.push(i),
            _ => outcomes.dropped += 1,
        }
    }
    Ok(outcomes)
}

fn error_text(result: &Value) -> String {
    match result.get("error") {
        Some(Value::Object(e)) => {
            let kind = e.get("type").and_then(Value::as_str).unwrap_or("error");
            let reason = e.get("reason").and_then(Value::as_str).unwrap_or("");
            format!("{kind}: {reason}")
        }
        Some(other) => other.to_string(),
        None => "no error given".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_without_errors_is_all_delivered() {
        let body = br#"{"took":3,"errors":false,"items":[{"create":{"status":201}}]}"#;
        assert_eq!(read(body, 1), Ok(ItemOutcomes::default()));
    }

    #[test]
    fn failed_items_are_sorted_into_retry_and_dropped() {
        let body = br#"{"errors":true,"items":[
            {"create":{"status":201}},
            {"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}},
            {"create":{"status":409}},
            {"index":{"status":409}},
            {"index":{"status":503}}
        ]}"#;
        let got = read(body, 6).unwrap();
        assert_eq!(got.retry, [1, 5]);
        assert_eq!(got.dropped, 2);
        assert_eq!(
            got.first_failure.as_deref(),
            Some("item status 429; es_rejected_execution_exception: queue full")
        );
    }

    #[test]
    fn answers_that_do_not_match_the_request_are_errors() {
        assert!(matches!(
            read(b"<html>", 1),
            Err(AnswerError::Unreadable(_))
        ));
        assert_eq!(
            read(br#"{"errors":true,"items":[]}"#, 2),
            Err(AnswerError::ItemCount { got: 0, sent: 2 })
        );
    }
}
