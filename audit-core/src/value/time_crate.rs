//! The `time` crate's values in the same text as chrono's (`with-time`): each is converted
//! to its chrono twin and written by the same code.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use sea_orm::sea_query::value::prelude::time::{
    Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset,
};
use serde_json::Value as Json;

pub(super) fn encode_date(v: Date) -> Json {
    match to_chrono_date(v) {
        Some(d) => Json::String(d.to_string()),
        None => super::serde_form(&v.into()),
    }
}

pub(super) fn encode_time(v: Time) -> Json {
    match to_chrono_time(v) {
        Some(t) => Json::String(super::naive_time(&t)),
        None => super::serde_form(&v.into()),
    }
}

pub(super) fn encode_date_time(v: PrimitiveDateTime) -> Json {
    match to_chrono_date_time(v) {
        Some(t) => Json::String(super::naive_date_time(&t)),
        None => super::serde_form(&v.into()),
    }
}

/// RFC 3339 like chrono's `DateTime<FixedOffset>`. An offset chrono cannot hold (24 hours
/// or more, or with seconds, which RFC 3339 text drops) keeps sea-query's serde form.
pub(super) fn encode_offset(v: OffsetDateTime) -> Json {
    let offset = v.offset().whole_seconds();
    let chrono = FixedOffset::east_opt(offset)
        .filter(|_| offset % 60 == 0)
        .zip(to_chrono_date_time(PrimitiveDateTime::new(
            v.date(),
            v.time(),
        )))
        .and_then(|(tz, local)| local.and_local_timezone(tz).single());
    chrono
        .and_then(|t| super::rfc3339(&t))
        .unwrap_or_else(|| super::serde_form(&v.into()))
}

fn to_chrono_date(v: Date) -> Option<NaiveDate> {
    NaiveDate::from_yo_opt(v.year(), u32::from(v.ordinal()))
}

fn to_chrono_time(v: Time) -> Option<NaiveTime> {
    let (h, m, s, nano) = v.as_hms_nano();
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), nano)
}

fn to_chrono_date_time(v: PrimitiveDateTime) -> Option<NaiveDateTime> {
    Some(NaiveDateTime::new(
        to_chrono_date(v.date())?,
        to_chrono_time(v.time())?,
    ))
}

pub(super) fn date(v: NaiveDate) -> Result<Date, String> {
    let ordinal = u16::try_from(v.ordinal()).map_err(|e| e.to_string())?;
    Date::from_ordinal_date(v.year(), ordinal).map_err(|e| format!("{v}: {e}"))
}

pub(super) fn time(v: NaiveTime) -> Result<Time, String> {
    let narrow = |n: u32| u8::try_from(n).map_err(|e| e.to_string());
    Time::from_hms_nano(
        narrow(v.hour())?,
        narrow(v.minute())?,
        narrow(v.second())?,
        v.nanosecond(),
    )
    .map_err(|e| format!("{v}: {e}"))
}

pub(super) fn date_time(v: NaiveDateTime) -> Result<PrimitiveDateTime, String> {
    Ok(PrimitiveDateTime::new(date(v.date())?, time(v.time())?))
}

pub(super) fn offset_date_time(v: DateTime<FixedOffset>) -> Result<OffsetDateTime, String> {
    let offset =
        UtcOffset::from_whole_seconds(v.offset().local_minus_utc()).map_err(|e| e.to_string())?;
    Ok(date_time(v.naive_local())?.assume_offset(offset))
}
