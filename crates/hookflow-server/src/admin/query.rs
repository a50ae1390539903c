//! The query strings of the admin listings read into store queries: `GET /api/executions` into
//! an [`ExecutionQuery`], `GET /api/subscriptions/{id}/deliveries` into a [`DeliveryQuery`],
//! `GET /api/collections/{name}/records` into a [`RecordQuery`]. Every
//! parameter is checked, and a bad one named in the error (unknown and repeated ones too, so that
//! a typo is not silently ignored).

use std::time::{Duration, UNIX_EPOCH};

use hookflow_store::{
    DeliveryQuery, DeliveryStatus, ExecutionQuery, ExecutionStatus, RecordOrder, RecordQuery,
};

use crate::error::AdminError;

/// Reads `raw` (without `?`) as the parameters `known` (listed as `expected` in the error for an
/// unknown one), handing each to `read`. An empty value is the same as no parameter.
fn each(
    raw: Option<&str>,
    known: &[&str],
    expected: &str,
    mut read: impl FnMut(&str, &str) -> Result<(), String>,
) -> Result<(), AdminError> {
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let bad = |reason: String| AdminError::BadParameter { name: name.to_string(), reason };
        if seen.iter().any(|n| *n == name) {
            return Err(bad("given more than once".into()));
        }
        seen.push(name.to_string());
        if !known.contains(&&*name) {
            return Err(bad(format!("unknown parameter; expected {expected}")));
        }
        if !value.is_empty() {
            read(&name, &value).map_err(bad)?;
        }
    }
    Ok(())
}

/// A page size from 1 to `max`.
fn limit(value: &str, max: usize) -> Result<usize, String> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| format!("expected a number from 1 to {max}, not `{value}`"))
}

fn cursor_error(value: &str) -> String {
    format!("expected the `next_cursor` of a previous page, not `{value}`")
}

/// The query of `GET /api/executions`.
pub fn parse(raw: Option<&str>) -> Result<ExecutionQuery, AdminError> {
    let mut query = ExecutionQuery::default();
    let known = ["flow", "status", "since", "until", "limit", "cursor", "parent"];
    each(raw, &known, "flow, status, since, until, limit, cursor or parent", |name, value| {
        match name {
            "flow" => query.flow = Some(value.to_owned()),
            "parent" => query.parent = Some(value.to_owned()),
            "status" => {
                query.status = Some(value.parse::<ExecutionStatus>().map_err(|e| e.to_string())?)
            }
            "since" => query.since_ms = Some(time(value)?),
            "until" => query.until_ms = Some(time(value)?),
            "limit" => query.limit = limit(value, ExecutionQuery::MAX_LIMIT)?,
            _ => {
                uuid::Uuid::try_parse(value).map_err(|_| cursor_error(value))?;
                query.cursor = Some(value.to_owned());
            }
        }
        Ok(())
    })?;
    if let (Some(since), Some(until)) = (query.since_ms, query.until_ms)
        && until <= since
    {
        return Err(AdminError::BadParameter {
            name: "until".into(),
            reason: "must be later than `since`".into(),
        });
    }
    Ok(query)
}

/// The query of `GET /api/subscriptions/{id}/deliveries`, for subscription `subscription`.
pub fn deliveries(raw: Option<&str>, subscription: &str) -> Result<DeliveryQuery, AdminError> {
    let mut query = DeliveryQuery {
        subscription_id: Some(subscription.to_owned()),
        ..DeliveryQuery::default()
    };
    each(raw, &["status", "limit", "cursor"], "status, limit or cursor", |name, value| {
        match name {
            "status" => {
                query.status = Some(value.parse::<DeliveryStatus>().map_err(|e| e.to_string())?)
            }
            "limit" => query.limit = limit(value, DeliveryQuery::MAX_LIMIT)?,
            _ => {
                let id = value.strip_prefix("msg_").ok_or_else(|| cursor_error(value))?;
                uuid::Uuid::try_parse(id).map_err(|_| cursor_error(value))?;
                query.cursor = Some(value.to_owned());
            }
        }
        Ok(())
    })?;
    Ok(query)
}

/// Milliseconds since the Unix epoch, from an RFC 3339 time with its offset (`Z` or `±HH:MM`) or
/// from a number of milliseconds.
pub fn time(text: &str) -> Result<i64, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().map_err(|_| format!("`{text}` is too large"));
    }
    let wrong = || {
        format!(
            "expected an RFC 3339 time such as 2025-01-31T12:00:00Z or 2025-01-31T13:00:00+01:00, \
             or milliseconds since the Unix epoch, not `{text}`"
        )
    };
    let (local, offset_s) = if let Some(local) = text.strip_suffix(['Z', 'z']) {
        (local, 0)
    } else {
        let split =
            text.len().checked_sub(6).filter(|&i| text.is_char_boundary(i)).ok_or_else(wrong)?;
        let (local, offset) = text.split_at(split);
        if !offset.is_ascii() {
            return Err(wrong());
        }
        let b = offset.as_bytes();
        let digits = |s: &str| {
            s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse::<i64>().ok()).flatten()
        };
        let (Some(hours), Some(minutes)) = (digits(&offset[1..3]), digits(&offset[4..6])) else {
            return Err(wrong());
        };
        let sign = match b[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(wrong()),
        };
        if b[3] != b':' || hours > 23 || minutes > 59 {
            return Err(wrong());
        }
        (local, sign * (hours * 3600 + minutes * 60))
    };
    if local.len() < 19 || local.as_bytes()[10] != b'T' && local.as_bytes()[10] != b't' {
        return Err(wrong());
    }
    let mut local = local.to_owned();
    local.replace_range(10..11, "T");
    let at = humantime::parse_rfc3339_weak(&local).map_err(|_| wrong())?;
    let ms = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis();
    let ms = i64::try_from(ms).map_err(|_| wrong())?;
    Ok(ms - offset_s * 1000)
}

/// The query of `GET /api/collections/{collection}/records`.
pub fn records(raw: Option<&str>, collection: &str) -> Result<RecordQuery, AdminError> {
    let mut query = RecordQuery {
        collection: collection.to_owned(),
        order: RecordOrder::Key,
        cursor: String::new(),
        limit: 0,
    };
    each(raw, &["order", "limit", "cursor"], "order, limit or cursor", |name, value| {
        match name {
            "order" => query.order = value.parse::<RecordOrder>().map_err(|e| e.to_string())?,
            "limit" => query.limit = limit(value, RecordQuery::MAX_LIMIT)?,
            _ => query.cursor = value.to_owned(),
        }
        Ok(())
    })?;
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(raw: &str) -> String {
        match parse(Some(raw)) {
            Err(AdminError::BadParameter { name, .. }) => name,
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn times_in_rfc_3339_or_milliseconds() {
        assert_eq!(time("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(time("1970-01-01T00:00:01Z"), Ok(1000));
        assert_eq!(time("1970-01-01t00:00:01.5z"), Ok(1500));
        assert_eq!(time("1970-01-01T01:00:01+01:00"), Ok(1000));
        assert_eq!(time("1970-01-01T00:00:01.250-00:30"), Ok(1250 + 1_800_000));
        for bad in [
            "",
            "yesterday",
            "1970-01-01T00:00:01",
            "1970-01-01 00:00:01Z",
            "1970-01-01T00:00:01+1:00",
            "-5",
        ] {
            assert!(time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_parameter_is_read() {
        let id = "0190e7a4-0000-7000-8000-000000000000";
        let q = parse(Some(&format!(
            "flow=orders&status=failed&since=1000&until=1970-01-01T00:00:02Z&limit=7&cursor={id}&parent=p1"
        )))
        .unwrap();
        assert_eq!(
            q,
            ExecutionQuery {
                flow: Some("orders".into()),
                status: Some(ExecutionStatus::Failed),
                since_ms: Some(1000),
                until_ms: Some(2000),
                limit: 7,
                cursor: Some(id.into()),
                parent: Some("p1".into()),
            }
        );
        assert_eq!(parse(Some("flow=&status=")).unwrap(), ExecutionQuery::default());
        assert_eq!(parse(None).unwrap(), ExecutionQuery::default());
    }

    #[test]
    fn a_bad_parameter_is_named() {
        assert_eq!(name_of("status=done"), "status");
        assert_eq!(name_of("limit=0"), "limit");
        assert_eq!(name_of("limit=501"), "limit");
        assert_eq!(name_of("limit=ten"), "limit");
        assert_eq!(name_of("since=tomorrow"), "since");
        assert_eq!(name_of("since=2000&until=1000"), "until");
        assert_eq!(name_of("cursor=abc"), "cursor");
        assert_eq!(name_of("flow=a&flow=b"), "flow");
        assert_eq!(name_of("staus=failed"), "staus");
    }

    #[test]
    fn delivery_listings_are_read_and_their_bad_parameters_named() {
        let cursor = "msg_0190e7a4000070008000000000000000";
        let q =
            deliveries(Some(&format!("status=failed&limit=3&cursor={cursor}")), "sub_1").unwrap();
        assert_eq!(
            q,
            DeliveryQuery {
                subscription_id: Some("sub_1".into()),
                status: Some(DeliveryStatus::Failed),
                cursor: Some(cursor.into()),
                limit: 3,
            }
        );
        for (raw, name) in [
            ("status=done", "status"),
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("cursor=abc", "cursor"),
            ("cursor=msg_abc", "cursor"),
            ("status=failed&status=pending", "status"),
            ("flow=x", "flow"),
        ] {
            match deliveries(Some(raw), "sub_1") {
                Err(AdminError::BadParameter { name: got, .. }) => assert_eq!(got, name, "{raw}"),
                other => panic!("{raw}: {other:?}"),
            }
        }
    }
}
