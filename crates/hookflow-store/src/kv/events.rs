//! The events outbox over an [`Engine`].
//!
//! # Layout
//!
//! [`Table::Events`]: `id` → `[created_at_ms, 8 bytes big-endian] [event type length, 4 bytes
//! big-endian] [event type] [envelope]`: the envelope as given, never parsed. Ids are made in
//! time order, so the oldest events are at the start of the table.

use std::{
    borrow::Cow,
    ops::{Bound, ControlFlow},
};

use super::executions::visit_range;
use super::{Engine, Table, Write, corrupt};
use crate::{Durability, PendingEvent, StoreError};

fn encode(event: &PendingEvent) -> Result<Vec<u8>, StoreError> {
    let event_type = event.event_type.as_bytes();
    let len = u32::try_from(event_type.len()).map_err(|_| StoreError::Encode {
        table: Table::Events.name(),
        key: event.id.clone(),
        cause: <serde_json::Error as serde::ser::Error>::custom("an event type longer than 4 GiB"),
    })?;
    let mut bytes = Vec::with_capacity(12 + event_type.len() + event.json.len());
    bytes.extend_from_slice(&event.created_at_ms.to_be_bytes());
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(event_type);
    bytes.extend_from_slice(&event.json);
    Ok(bytes)
}

fn decode(engine: &impl Engine, key: &[u8], bytes: &[u8]) -> Result<PendingEvent, StoreError> {
    let bad = |cause: &str| corrupt(engine, Table::Events, key, cause.to_owned());
    let (created, rest) = bytes.split_first_chunk::<8>().ok_or_else(|| bad("truncated"))?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(|| bad("truncated"))?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| bad("truncated"))?;
    if rest.len() < len {
        return Err(bad("truncated"));
    }
    let (event_type, json) = rest.split_at(len);
    Ok(PendingEvent {
        id: String::from_utf8(key.to_vec()).map_err(|_| bad("the id is not UTF-8"))?,
        event_type: String::from_utf8(event_type.to_vec())
            .map_err(|_| bad("the event type is not UTF-8"))?,
        created_at_ms: i64::from_be_bytes(*created),
        json: json.to_vec(),
    })
}

pub(super) fn put_events(engine: &impl Engine, events: &[PendingEvent]) -> Result<(), StoreError> {
    // The last occurrence of an id wins (the sort is stable).
    let mut events: Vec<&PendingEvent> = events.iter().collect();
    events.sort_by(|a, b| a.id.cmp(&b.id));
    events.reverse();
    events.dedup_by(|later, earlier| later.id == earlier.id);
    events.reverse();
    if events.is_empty() {
        return Ok(());
    }
    let writes = events
        .into_iter()
        .map(|event| {
            Ok(Write::Put {
                table: Table::Events,
                key: event.id.as_bytes().to_vec(),
                value: Cow::Owned(encode(event)?),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    engine.apply_raw(&writes, Durability::Now)
}

pub(super) fn pending_events(
    engine: &impl Engine,
    limit: usize,
) -> Result<Vec<PendingEvent>, StoreError> {
    let mut events = Vec::new();
    if limit == 0 {
        return Ok(events);
    }
    visit_range(engine, Table::Events, Bound::Unbounded, Bound::Unbounded, false, |key, value| {
        events.push(decode(engine, key, value)?);
        Ok(if events.len() == limit { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
    })?;
    Ok(events)
}

pub(super) fn delete_events(engine: &impl Engine, ids: &[String]) -> Result<(), StoreError> {
    let mut keys: Vec<&[u8]> = ids.iter().map(|id| id.as_bytes()).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(());
    }
    let writes: Vec<Write<'_>> = keys
        .into_iter()
        .map(|key| Write::Remove { table: Table::Events, key: key.to_vec() })
        .collect();
    engine.apply_raw(&writes, Durability::Now)
}

#[cfg(test)]
pub(crate) mod tests {
    //! Engine-level cases of the outbox.

    use super::*;
    use crate::Store;

    /// Garbage under an event's id is an error naming the key; deleting it still works.
    pub(crate) fn a_corrupt_event_is_an_error_naming_the_key(engine: &impl Engine) {
        engine.put_raw(Table::Events, b"evt_bad", &[0, 0, 0]).unwrap();
        let err = engine.pending_events(10).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("corrupt record `evt_bad` in `events`: truncated"));
        let long = [&[0; 8][..], &[0, 0, 0, 9], b"a"].concat();
        engine.put_raw(Table::Events, b"evt_bad", &long).unwrap();
        assert!(engine.pending_events(10).unwrap_err().to_string().contains("truncated"));
        engine.delete_events(&["evt_bad".to_owned()]).unwrap();
        assert_eq!(engine.pending_events(10).unwrap(), vec![]);
    }

    #[test]
    fn events_encode_and_decode() {
        let engine = crate::MemoryStore::new();
        for event in [
            PendingEvent {
                id: "evt_1".into(),
                event_type: "order.paid".into(),
                created_at_ms: -3,
                json: br#"{"type":"order.paid"}"#.to_vec(),
            },
            PendingEvent {
                id: "evt_2".into(),
                event_type: String::new(),
                created_at_ms: i64::MAX,
                json: vec![],
            },
        ] {
            let bytes = encode(&event).unwrap();
            assert_eq!(decode(&engine, event.id.as_bytes(), &bytes).unwrap(), event);
        }
    }
}
