//! The fan-out task: each published event becomes one delivery per subscription that wants its
//! type, with the subscription's payload rendered now (every attempt sends the same bytes); a
//! paused subscription's delivery is written held, and goes out when it is switched on again.
//! The events waiting at a moment are written together (by the delivery worker's writer, in
//! one commit with the attempts' outcomes of that moment), and the worker is woken.

use std::sync::Weak;

use hookflow_core::expr::Standalone;
use hookflow_store::clock::now_ms;
use hookflow_store::{Attempt, Delivery, DeliveryStatus};
use tokio::sync::mpsc;

use super::events::Event;
use super::{Live, Outbound};

/// Events taken from the channel for one write, at most.
const BATCH: usize = 4096;

/// Runs until every [`Outbound`] handle is gone. While one batch is written the next gathers.
pub(crate) async fn run(outbound: Weak<Outbound>, mut events: mpsc::UnboundedReceiver<Event>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let received @ 1.. = events.recv_many(&mut batch, BATCH).await {
        let Some(outbound) = outbound.upgrade() else { return };
        let live = outbound.live.load();
        let deliveries: Vec<Delivery> = batch
            .drain(..)
            .flat_map(|event| {
                let wanted: Vec<_> =
                    live.iter().filter(|l| l.subscription.wants(&event.kind)).collect();
                wanted.into_iter().map(move |l| delivery(l, &event, new_id())).collect::<Vec<_>>()
            })
            .collect();
        if !deliveries.is_empty() {
            outbound.deliverer().queue(deliveries).await;
        }
        outbound.handled(received);
    }
}

/// A new delivery id: `msg_` and a UUIDv7.
pub(crate) fn new_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

/// The delivery `id` of `event` to `live`'s subscription, due now (held while it is paused). A
/// payload that cannot be rendered is a failed delivery whose one attempt says why (nothing is
/// sent).
pub(crate) fn delivery(live: &Live, event: &Event, id: String) -> Delivery {
    let subscription = &live.subscription;
    let now = now_ms();
    let payload = match &live.payload {
        None => event.envelope(&subscription.id).map_err(|e| e.to_string()),
        Some(expr) => rendered(expr, event, &subscription.id, &id),
    };
    let mut delivery = Delivery {
        id,
        subscription_id: subscription.id.clone(),
        event_type: event.kind.clone(),
        payload: Vec::new(),
        status: DeliveryStatus::Pending,
        created_at_ms: now,
        next_attempt_at_ms: subscription.active.then_some(now),
        attempts: Vec::new(),
    };
    match payload {
        Ok(bytes) => delivery.payload = bytes,
        Err(error) => {
            tracing::warn!(subscription = %subscription.id, event = %event.kind, %error, "a delivery fails before any attempt");
            delivery.status = DeliveryStatus::Failed;
            delivery.next_attempt_at_ms = None;
            delivery.attempts.push(Attempt {
                at_ms: now,
                status: None,
                error: Some(error),
                duration_ms: 0,
                response_headers: Vec::new(),
                response_body: Vec::new(),
                response_body_truncated: false,
            });
        }
    }
    delivery
}

/// `expr` evaluated over `event`'s document for this subscription and message, as JSON; a
/// failure says where.
fn rendered(
    expr: &Standalone,
    event: &Event,
    subscription_id: &str,
    message_id: &str,
) -> Result<Vec<u8>, String> {
    let value = expr.eval(event.document(subscription_id, message_id)).map_err(|e| {
        let at = if e.pointer.is_empty() { String::new() } else { format!(" at #{}", e.pointer) };
        format!("the subscription's payload could not be rendered{at}: {}", e.message)
    })?;
    serde_json::to_vec(&value).map_err(|e| e.to_string())
}
