//! Loading and validation of `workflows/holidays.toml`.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use toml::Spanned;
use toml::value::Datetime;

use super::{BusinessCalendar, CalendarError, is_weekday};

/// The file as written; keys keep their byte spans so errors can name a line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    source: Option<String>,
    covered_from: Option<Spanned<Datetime>>,
    covered_until: Option<Spanned<Datetime>>,
    #[serde(default)]
    holidays: BTreeMap<Spanned<String>, String>,
    #[serde(default)]
    workdays: BTreeMap<Spanned<String>, String>,
}

/// A validated date entry with the byte offset of its key (made a line number only for errors,
/// as counting lines for every entry would be quadratic).
#[derive(Clone, Copy)]
struct Entry {
    date: NaiveDate,
    offset: usize,
}

pub(super) fn parse(text: &str) -> Result<BusinessCalendar, CalendarError> {
    let raw: RawFile = toml::from_str(text)?;
    let from = coverage_bound(text, "covered_from", raw.covered_from)?;
    let until = coverage_bound(text, "covered_until", raw.covered_until)?;
    if from > until {
        return Err(CalendarError::EmptyCoverage { from, until });
    }

    let holidays = entries(text, "holidays", &raw.holidays, (from, until))?;
    let workdays = entries(text, "workdays", &raw.workdays, (from, until))?;

    if let Some(entry) = workdays.iter().find(|entry| is_weekday(entry.date)) {
        return Err(CalendarError::WorkdayNotOnWeekend {
            date: entry.date,
            weekday: entry.date.weekday(),
            line: line_of(text, entry.offset),
        });
    }
    // Both lists are sorted by date: the keys are strict YYYY-MM-DD, so the map's string order
    // is date order.
    for workday in &workdays {
        if let Ok(index) = holidays.binary_search_by_key(&workday.date, |h| h.date) {
            return Err(CalendarError::HolidayAndWorkday {
                date: workday.date,
                holiday_line: line_of(text, holidays[index].offset),
                workday_line: line_of(text, workday.offset),
            });
        }
    }

    Ok(BusinessCalendar {
        source: raw.source,
        coverage: Some((from, until)),
        // Holidays on a Saturday or Sunday do not change the weekday rule: keep only the rest.
        closures: holidays
            .iter()
            .map(|h| h.date)
            .filter(|&d| is_weekday(d))
            .collect(),
        make_up_days: workdays.iter().map(|w| w.date).collect(),
    })
}

/// `covered_from` / `covered_until`: required, and a plain local date.
fn coverage_bound(
    text: &str,
    key: &'static str,
    value: Option<Spanned<Datetime>>,
) -> Result<NaiveDate, CalendarError> {
    let value = value.ok_or(CalendarError::MissingKey { key })?;
    let line = line_of(text, value.span().start);
    let datetime = value.get_ref();
    let date = match (datetime.date, datetime.time, datetime.offset) {
        (Some(date), None, None) => {
            NaiveDate::from_ymd_opt(date.year.into(), date.month.into(), date.day.into())
        }
        _ => None,
    };
    date.ok_or_else(|| CalendarError::NotADate {
        key,
        line,
        found: datetime.to_string(),
    })
}

/// The dates of one table, validated against the coverage and sorted by date.
fn entries(
    text: &str,
    table: &'static str,
    map: &BTreeMap<Spanned<String>, String>,
    (from, until): (NaiveDate, NaiveDate),
) -> Result<Vec<Entry>, CalendarError> {
    let mut entries = Vec::with_capacity(map.len());
    for key in map.keys() {
        let offset = key.span().start;
        let date = parse_iso_date(key.get_ref()).ok_or_else(|| CalendarError::InvalidDateKey {
            table,
            key: key.get_ref().clone(),
            line: line_of(text, offset),
        })?;
        if date < from || date > until {
            return Err(CalendarError::OutsideCoverage {
                table,
                date,
                line: line_of(text, offset),
                from,
                until,
            });
        }
        entries.push(Entry { date, offset });
    }
    // Already in date order (see `parse`); sorting keeps that true whatever the map type.
    entries.sort_unstable_by_key(|entry| entry.date);
    Ok(entries)
}

/// Parses exactly `YYYY-MM-DD` (four-digit year, zero-padded month and day).
fn parse_iso_date(key: &str) -> Option<NaiveDate> {
    let bytes = key.as_bytes();
    let well_formed = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    let year = key.get(0..4)?.parse().ok()?;
    let month = key.get(5..7)?.parse().ok()?;
    let day = key.get(8..10)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let before = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
    before.iter().filter(|&&b| b == b'\n').count() + 1
}
