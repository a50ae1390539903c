//! Managing subscriptions: create (with a signing secret shown once), change, pause and resume,
//! delete, rotate the secret with a grace window, send a test event, retry a delivery. Every
//! field is checked before anything is stored: the URL (`http`/`https`, a host, a destination
//! the network policy allows), the event types (the catalogue's, or `*`), the header names, and
//! the payload expression (compiled once here). A subscription as the admin API shows it never
//! carries its secrets or its header values.

use std::collections::BTreeMap;
use std::time::Duration;

use hookflow_core::expr::Standalone;
use hookflow_store::clock::now_ms;
use hookflow_store::{
    Delivery, DeliveryStatus, Durability, SigningSecret, StoreError, Subscription,
};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Value, json};

use super::events::{self, ALL, Event, EventContext, TEST};
use super::fanout;
use super::{Live, Outbound};
use crate::http_client;
use crate::store_errors::blocking;

/// What a value of a header shows in place of the value.
const REDACTED: &str = "[redacted]";

/// A new subscription, as the admin API takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    pub name: String,
    pub url: String,
    /// Event types, or `["*"]` (the default) for all.
    #[serde(default = "every_event")]
    pub events: Vec<String>,
    #[serde(default = "active")]
    pub active: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub payload: Option<Value>,
}

fn every_event() -> Vec<String> {
    vec![ALL.to_owned()]
}

fn active() -> bool {
    true
}

/// A change to a subscription: what is given replaces what it had (`payload: null` goes back to
/// the default envelope; `headers` replaces them all).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
    pub description: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "present")]
    pub payload: Option<Option<Value>>,
}

/// A field that is present, `null` included, as `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Value>>, D::Error> {
    Option::<Value>::deserialize(d).map(Some)
}

/// Why a subscription change was not made.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// A field is not valid; `field` is its JSON pointer in the request (e.g. `/url`).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("no subscription has id `{0}`")]
    NoSuchSubscription(String),
    #[error("no delivery has id `{0}`")]
    NoSuchDelivery(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &str, message: impl Into<String>) -> SubscriptionError {
    SubscriptionError::Invalid { field: field.to_owned(), message: message.into() }
}

/// A subscription and, once, its new secret.
#[derive(Debug)]
pub struct WithSecret {
    pub subscription: Subscription,
    pub secret: String,
}

impl Outbound {
    /// Creates a subscription with a new signing secret (answered here, never again).
    pub async fn create(&self, new: NewSubscription) -> Result<WithSecret, SubscriptionError> {
        self.check_url(&new.url, "/url").await?;
        self.check_events(&new.events, "/events")?;
        check_headers(&new.headers, "/headers")?;
        check_payload(new.payload.as_ref(), "/payload")?;
        check_name(&new.name, "/name")?;
        let now = now_ms();
        let secret = super::signing::generate_secret();
        let subscription = Subscription {
            id: format!("sub_{}", uuid::Uuid::now_v7().simple()),
            name: new.name,
            url: new.url,
            events: new.events,
            active: new.active,
            description: new.description,
            headers: new.headers.into_iter().collect(),
            payload: new.payload,
            secrets: vec![SigningSecret {
                secret: secret.clone(),
                created_at_ms: now,
                expires_at_ms: None,
            }],
            disabled_reason: None,
            created_at_ms: now,
            updated_at_ms: now,
        };
        self.write(subscription.clone()).await?;
        Ok(WithSecret { subscription, secret })
    }

    /// Changes subscription `id`. Switching it on again sends what was held while it was off.
    pub async fn update(
        &self,
        id: &str,
        patch: SubscriptionPatch,
    ) -> Result<Subscription, SubscriptionError> {
        let mut subscription = self.get(id).await?;
        let resumed = patch.active == Some(true) && !subscription.active;
        if let Some(url) = patch.url {
            self.check_url(&url, "/url").await?;
            subscription.url = url;
        }
        if let Some(events) = patch.events {
            self.check_events(&events, "/events")?;
            subscription.events = events;
        }
        if let Some(headers) = patch.headers {
            check_headers(&headers, "/headers")?;
            subscription.headers = headers.into_iter().collect();
        }
        if let Some(payload) = patch.payload {
            check_payload(payload.as_ref(), "/payload")?;
            subscription.payload = payload;
        }
        if let Some(name) = patch.name {
            check_name(&name, "/name")?;
            subscription.name = name;
        }
        if let Some(description) = patch.description {
            subscription.description = Some(description);
        }
        if let Some(active) = patch.active {
            subscription.active = active;
            if active {
                subscription.disabled_reason = None;
            }
        }
        subscription.updated_at_ms = now_ms();
        self.write(subscription.clone()).await?;
        if resumed {
            self.release_held(&subscription.id).await?;
        }
        Ok(subscription)
    }

    /// Deletes subscription `id` and its deliveries; `false` when there was none.
    pub async fn delete(&self, id: &str) -> Result<bool, SubscriptionError> {
        let key = id.to_owned();
        let deleted =
            blocking(self.store(), "subscriptions", move |store| store.delete_subscription(&key))
                .await?;
        self.refresh().await?;
        Ok(deleted)
    }

    /// A new signing secret for subscription `id` (answered here, never again); the current one
    /// keeps signing, beside it, for `grace`.
    pub async fn rotate(&self, id: &str, grace: Duration) -> Result<WithSecret, SubscriptionError> {
        let mut subscription = self.get(id).await?;
        let now = now_ms();
        let until = now.saturating_add(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX));
        // The current secret signs until `until`; one already in its window keeps the earlier
        // end; those past it are dropped.
        for s in &mut subscription.secrets {
            s.expires_at_ms = Some(s.expires_at_ms.map_or(until, |at| at.min(until)));
        }
        subscription.secrets.retain(|s| s.expires_at_ms.is_none_or(|at| now < at));
        let secret = super::signing::generate_secret();
        let new = SigningSecret { secret: secret.clone(), created_at_ms: now, expires_at_ms: None };
        subscription.secrets.insert(0, new);
        subscription.updated_at_ms = now;
        self.write(subscription.clone()).await?;
        Ok(WithSecret { subscription, secret })
    }

    /// Sends a `test` event to subscription `id` now (paused or not) and answers the delivery
    /// with its attempt.
    pub async fn test(&self, id: &str) -> Result<Delivery, SubscriptionError> {
        let subscription = self.get(id).await?;
        let sample = (events::lookup(TEST).expect("the catalogue has `test`").sample)();
        let event = Event::new(TEST, sample, EventContext::default());
        let payload = compiled(subscription.payload.as_ref());
        let live = Live { subscription, payload };
        let delivery = fanout::delivery(&live, &event, fanout::new_id());
        Ok(self.deliverer().send_now(&live.subscription, delivery).await?)
    }

    /// Sends delivery `id` again now, whatever its status, and answers it with the new attempt.
    pub async fn retry(&self, id: &str) -> Result<Delivery, SubscriptionError> {
        let key = id.to_owned();
        let delivery = blocking(self.store(), "subscriptions", move |store| store.delivery(&key))
            .await?
            .ok_or_else(|| SubscriptionError::NoSuchDelivery(id.to_owned()))?;
        let subscription = self.get(&delivery.subscription_id).await?;
        Ok(self.deliverer().send_now(&subscription, delivery).await?)
    }

    /// Subscription `id`, as stored.
    pub async fn get(&self, id: &str) -> Result<Subscription, SubscriptionError> {
        let key = id.to_owned();
        blocking(self.store(), "subscriptions", move |store| store.subscription(&key))
            .await?
            .ok_or_else(|| SubscriptionError::NoSuchSubscription(id.to_owned()))
    }

    /// Stores `subscription` and reads the snapshot again.
    async fn write(&self, subscription: Subscription) -> Result<(), SubscriptionError> {
        blocking(self.store(), "subscriptions", move |store| store.put_subscription(&subscription))
            .await?;
        self.refresh().await?;
        Ok(())
    }

    /// Schedules now every delivery held while subscription `id` was off.
    async fn release_held(&self, id: &str) -> Result<(), SubscriptionError> {
        let key = id.to_owned();
        blocking(self.store(), "subscriptions", move |store| {
            let now = now_ms();
            let held: Vec<Delivery> = store
                .held_deliveries(&key)?
                .into_iter()
                .filter(|d| d.status == DeliveryStatus::Pending)
                .map(|d| Delivery { next_attempt_at_ms: Some(now), ..d })
                .collect();
            store.put_deliveries(&held, Durability::Now)
        })
        .await?;
        self.deliverer().wake();
        Ok(())
    }

    /// `url` is `http` or `https` with a host that the network policy lets deliveries reach.
    async fn check_url(&self, url: &str, field: &str) -> Result<(), SubscriptionError> {
        let parsed =
            Url::parse(url).map_err(|e| invalid(field, format!("`{url}` is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(field, format!("`{url}` is not an http or https URL")));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid(field, format!("`{url}` has no host")));
        }
        match http_client::refused(&parsed, self.config().network).await {
            Some(reason) => Err(invalid(field, reason)),
            None => Ok(()),
        }
    }
}

impl Outbound {
    /// Every event type is the catalogue's or one a deployed flow emits, or `*`; at least one.
    fn check_events(&self, events: &[String], field: &str) -> Result<(), SubscriptionError> {
        if events.is_empty() {
            return Err(invalid(field, "no event type: name at least one, or \"*\" for all"));
        }
        let flows = self.flow_event_types();
        for (i, name) in events.iter().enumerate() {
            if name != ALL
                && events::lookup(name).is_none()
                && !flows.iter().any(|t| t.name == *name)
            {
                let known: Vec<&str> = events::CATALOGUE
                    .iter()
                    .map(|t| t.name)
                    .chain(flows.iter().map(|t| t.name.as_str()))
                    .collect();
                let message =
                    format!("unknown event type `{name}`; known: {}, or \"*\"", known.join(", "));
                return Err(invalid(&format!("{field}/{i}"), message));
            }
        }
        Ok(())
    }
}

fn check_name(name: &str, field: &str) -> Result<(), SubscriptionError> {
    if name.trim().is_empty() {
        return Err(invalid(field, "the name is empty"));
    }
    Ok(())
}

/// Header names are HTTP tokens and not ones hookflow sets itself.
fn check_headers(headers: &BTreeMap<String, String>, field: &str) -> Result<(), SubscriptionError> {
    for (name, value) in headers {
        let at = format!("{field}/{}", hookflow_core::pointer::escape(name));
        let Ok(parsed) = http::HeaderName::from_bytes(name.as_bytes()) else {
            return Err(invalid(&at, format!("`{name}` is not a valid header name")));
        };
        if super::sender::RESERVED_HEADERS.contains(&parsed.as_str()) {
            return Err(invalid(&at, format!("`{name}` is set by hookflow on every delivery")));
        }
        if http::HeaderValue::from_str(value).is_err() {
            return Err(invalid(&at, "the value is not a valid header value"));
        }
    }
    Ok(())
}

/// The payload expression compiles.
fn check_payload(payload: Option<&Value>, field: &str) -> Result<(), SubscriptionError> {
    let Some(payload) = payload else { return Ok(()) };
    match Standalone::compile(payload) {
        Ok(_) => Ok(()),
        Err(diagnostics) => {
            let first = &diagnostics[0];
            Err(invalid(&format!("{field}{}", first.location.pointer), first.message.clone()))
        }
    }
}

fn compiled(payload: Option<&Value>) -> Option<Standalone> {
    payload.and_then(|p| Standalone::compile(p).ok())
}

/// A subscription as the admin API shows it: its header values and secrets left out.
pub fn view(subscription: &Subscription) -> Value {
    let headers: serde_json::Map<String, Value> = subscription
        .headers
        .iter()
        .map(|(name, _)| (name.clone(), Value::String(REDACTED.into())))
        .collect();
    let time =
        |ms: i64| humantime::format_rfc3339_millis(hookflow_store::clock::time(ms)).to_string();
    json!({
        "id": subscription.id,
        "name": subscription.name,
        "url": subscription.url,
        "events": subscription.events,
        "active": subscription.active,
        "description": subscription.description,
        "headers": headers,
        "payload": subscription.payload,
        "disabled_reason": subscription.disabled_reason,
        "secrets": subscription.secrets.iter().map(|s| json!({
            "created_at": time(s.created_at_ms),
            "expires_at": s.expires_at_ms.map(time),
        })).collect::<Vec<_>>(),
        "created_at": time(subscription.created_at_ms),
        "updated_at": time(subscription.updated_at_ms),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use hookflow_store::MemoryStore;
    use serde_json::json;

    use super::*;
    use crate::http_client::NetworkPolicy;
    use crate::outbound::sender::tests::{Receiver, header, reply, verifies};
    use crate::outbound::worker::DeliveryConfig;

    async fn outbound(network: NetworkPolicy) -> Arc<Outbound> {
        let config = DeliveryConfig {
            network,
            schedule: vec![Duration::from_millis(20); 3],
            ..DeliveryConfig::default()
        };
        Outbound::start(Arc::new(MemoryStore::new()), config).await.unwrap()
    }

    fn new(url: &str) -> NewSubscription {
        serde_json::from_value(json!({ "name": "crm", "url": url })).unwrap()
    }

    fn field(result: Result<WithSecret, SubscriptionError>) -> String {
        match result {
            Err(SubscriptionError::Invalid { field, .. }) => field,
            other => panic!("not a field error: {other:?}"),
        }
    }

    /// Polls `check` every 10 ms for 5 s at most.
    async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(value) = check() {
                return value;
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn every_field_is_checked_and_named() {
        let o = outbound(NetworkPolicy::AllowPrivate).await;
        assert_eq!(field(o.create(new("ftp://example.com/x")).await), "/url");
        assert_eq!(field(o.create(new("http://")).await), "/url");
        assert_eq!(field(o.create(new("unix:/run/x.sock")).await), "/url");
        assert_eq!(field(o.create(new("not a url")).await), "/url");
        let mut events = new("http://example.com/x");
        events.events = vec!["execution.failed".into(), "order.accepted".into()];
        assert_eq!(field(o.create(events).await), "/events/1");
        let mut none = new("http://example.com/x");
        none.events = Vec::new();
        assert_eq!(field(o.create(none).await), "/events");
        let mut headers = new("http://example.com/x");
        headers.headers.insert("Webhook-Signature".into(), "x".into());
        assert_eq!(field(o.create(headers).await), "/headers/Webhook-Signature");
        let mut payload = new("http://example.com/x");
        payload.payload = Some(json!({ "data": "$.data[" }));
        assert_eq!(field(o.create(payload).await), "/payload/data");
        let unknown = serde_json::from_value::<NewSubscription>(
            json!({ "name": "crm", "url": "http://example.com/x", "secret": "mine" }),
        );
        assert!(unknown.unwrap_err().to_string().contains("unknown field `secret`"));
    }

    #[tokio::test]
    async fn private_destinations_are_refused_unless_allowed() {
        let o = outbound(NetworkPolicy::PublicOnly).await;
        for url in [
            "http://127.0.0.1:9/hook",
            "http://localhost:9/hook",
            "http://[::1]/",
            "http://10.1.2.3/",
        ] {
            match o.create(new(url)).await {
                Err(SubscriptionError::Invalid { field, message }) => {
                    assert_eq!(field, "/url");
                    assert!(message.contains("allow private networks"), "{url}: {message}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
        let allowed = outbound(NetworkPolicy::AllowPrivate).await;
        assert!(allowed.create(new("http://127.0.0.1:9/hook")).await.is_ok());
    }

    #[tokio::test]
    async fn a_secret_is_shown_once_and_the_view_keeps_secrets_out() {
        let o = outbound(NetworkPolicy::AllowPrivate).await;
        let mut with_headers = new("http://example.com/x");
        with_headers.headers.insert("x-api-key".into(), "k3y".into());
        let created = o.create(with_headers).await.unwrap();
        assert!(created.secret.starts_with("whsec_"), "{}", created.secret);
        assert!(created.subscription.id.starts_with("sub_"));
        let view = view(&o.get(&created.subscription.id).await.unwrap()).to_string();
        assert!(!view.contains(&created.secret) && !view.contains("k3y"), "{view}");
        assert!(view.contains("[redacted]"), "{view}");
    }

    #[tokio::test]
    async fn a_rotation_signs_with_both_secrets_for_its_grace_then_with_the_new_one() {
        let o = outbound(NetworkPolicy::AllowPrivate).await;
        let first = o.create(new("http://example.com/x")).await.unwrap();
        let id = first.subscription.id;
        let second = o.rotate(&id, Duration::from_secs(3600)).await.unwrap();
        let now = now_ms();
        let signing: Vec<&str> =
            second.subscription.signing_secrets(now).map(|s| s.secret.as_str()).collect();
        assert_eq!(signing, [second.secret.as_str(), first.secret.as_str()]);
        let third = o.rotate(&id, Duration::ZERO).await.unwrap();
        let signing: Vec<&str> =
            third.subscription.signing_secrets(now_ms()).map(|s| s.secret.as_str()).collect();
        assert_eq!(signing, [third.secret.as_str()], "no grace: only the new one");
    }

    #[tokio::test]
    async fn events_beyond_the_room_are_dropped_unless_their_publisher_waits() {
        let o = outbound(NetworkPolicy::AllowPrivate).await;
        let mut paused = new("http://127.0.0.1:9/never");
        paused.active = false;
        o.create(paused).await.unwrap();
        let event = |n: usize| Event::new(events::TEST, json!({ "n": n }), EventContext::default());
        // The test's runtime has one thread: the fan-out cannot run until this task waits.
        for n in 0..super::super::WAITING_EVENTS + 3 {
            o.publish(event(n));
        }
        o.publish_waiting(event(usize::MAX)).await;
        o.flush().await;
        let store = o.store().clone();
        let pending =
            tokio::task::spawn_blocking(move || store.pending_deliveries()).await.unwrap().unwrap();
        assert_eq!(pending, super::super::WAITING_EVENTS + 1, "3 dropped, the waiting one kept");
    }

    #[tokio::test]
    async fn published_events_reach_the_subscriptions_that_want_them_and_pausing_holds_them() {
        let receiver = Receiver::start(vec![reply(200)]).await;
        let o = outbound(NetworkPolicy::AllowPrivate).await;
        let mut failed_only = new(&receiver.url);
        failed_only.events = vec![events::EXECUTION_FAILED.into()];
        let created = o.create(failed_only).await.unwrap();
        let id = created.subscription.id.clone();
        assert!(o.wants(events::EXECUTION_FAILED) && !o.wants(events::EXECUTION_SUCCEEDED));

        o.publish(Event::new(
            events::EXECUTION_SUCCEEDED,
            json!({ "n": 0 }),
            EventContext::default(),
        ));
        o.publish(Event::new(events::EXECUTION_FAILED, json!({ "n": 1 }), EventContext::default()));
        let first =
            eventually("the wanted event arrives", || receiver.received().first().cloned()).await;
        let body: Value = serde_json::from_slice(&first.body).unwrap();
        assert_eq!(body["event"], "execution.failed");
        assert_eq!(body["webhook_id"], id.as_str());
        assert_eq!(body["data"], json!({ "n": 1 }));
        assert!(verifies(&created.secret, header(&first, "webhook-signature"), &first));

        // Paused: the event is written held, not sent; resumed: sent.
        let pause = SubscriptionPatch { active: Some(false), ..SubscriptionPatch::default() };
        o.update(&id, pause).await.unwrap();
        assert!(o.wants(events::EXECUTION_FAILED), "a paused subscription still wants it");
        o.publish(Event::new(events::EXECUTION_FAILED, json!({ "n": 2 }), EventContext::default()));
        let store = o.store().clone();
        let key = id.clone();
        let held = eventually("the event is held", || {
            let held = store.held_deliveries(&key).unwrap();
            (held.len() == 1).then(|| held[0].clone())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(receiver.received().len(), 1, "nothing is sent while paused");
        let resume = SubscriptionPatch { active: Some(true), ..SubscriptionPatch::default() };
        o.update(&id, resume).await.unwrap();
        let second = eventually("the held delivery goes out on resume", || {
            receiver.received().get(1).cloned()
        })
        .await;
        assert_eq!(header(&second, "webhook-id"), held.id);
        let body: Value = serde_json::from_slice(&second.body).unwrap();
        assert_eq!(body["data"], json!({ "n": 2 }));
    }

    #[tokio::test]
    async fn a_custom_payload_is_rendered_per_subscription_and_a_test_is_sent_now() {
        let receiver = Receiver::start(vec![reply(204)]).await;
        let o = outbound(NetworkPolicy::AllowPrivate).await;
        let mut custom = new(&receiver.url);
        custom.payload = Some(json!({
            "event_type": "$.event", "event_time": "$.timestamp",
            "current_context": "$.context", "data": "$.data", "id": "{{message_id}}"
        }));
        let created = o.create(custom).await.unwrap();
        let delivery = o.test(&created.subscription.id).await.unwrap();
        assert_eq!(delivery.status, DeliveryStatus::Succeeded);
        assert_eq!(delivery.attempts.len(), 1);
        assert_eq!(delivery.attempts[0].status, Some(204));
        let sent = &receiver.received()[0];
        let body: Value = serde_json::from_slice(&sent.body).unwrap();
        assert_eq!(body["event_type"], "test");
        assert_eq!(body["id"], delivery.id.as_str());
        assert_eq!(body["current_context"]["flow_id"], Value::Null);
        assert!(body["event_time"].is_string() && body["data"]["message"].is_string(), "{body}");
        let again = o.retry(&delivery.id).await.unwrap();
        assert_eq!(again.attempts.len(), 2);
        assert!(matches!(o.retry("msg_nope").await, Err(SubscriptionError::NoSuchDelivery(_))));
        assert!(matches!(o.test("sub_nope").await, Err(SubscriptionError::NoSuchSubscription(_))));
    }
}
