//! Business hours: weekly opening times, holidays and special days, in the calendar's time zone.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Minutes since local midnight, `[start, end)`; `end` may be 1440.
pub type Range = (u16, u16);

#[derive(Debug, Clone)]
pub struct Calendar {
    pub name: String,
    pub timezone: TimeZone,
    /// Monday first.
    pub weekly: [Vec<Range>; 7],
    /// Closed all day.
    pub holidays: BTreeSet<Date>,
    /// Days with their own hours (a short pre-holiday day, a working Saturday).
    pub special: BTreeMap<Date, Vec<Range>>,
}

impl Calendar {
    fn local(&self, unix_ms: i64) -> Option<jiff::civil::DateTime> {
        let ts = Timestamp::from_millisecond(unix_ms).ok()?;
        Some(ts.to_zoned(self.timezone.clone()).datetime())
    }

    /// Open at this instant?
    pub fn is_open(&self, unix_ms: i64) -> bool {
        let Some(local) = self.local(unix_ms) else {
            return false;
        };
        let date = local.date();
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let ranges = match self.special.get(&date) {
            Some(r) => r.as_slice(),
            None if self.holidays.contains(&date) => &[],
            None => &self.weekly[weekday_index(date.weekday())],
        };
        ranges.iter().any(|&(s, e)| minute >= s && minute < e)
    }

    /// Is the local day at this instant a holiday?
    pub fn is_holiday(&self, unix_ms: i64) -> bool {
        self.local(unix_ms)
            .map(|l| self.holidays.contains(&l.date()))
            .unwrap_or(false)
    }
}

pub fn weekday_index(d: Weekday) -> usize {
    d.to_monday_zero_offset() as usize
}

/// `mon`, `mon-fri`, `sat,sun`, `daily` → which weekdays (Monday = 0).
pub fn parse_days(text: &str) -> Result<Vec<usize>, String> {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let day = |s: &str| {
        let s = s.trim().to_ascii_lowercase();
        NAMES
            .iter()
            .position(|n| s.starts_with(n) && n.len() <= s.len())
            .ok_or_else(|| format!("'{s}' is not a weekday (mon … sun)"))
    };
    let text = text.trim().to_ascii_lowercase();
    if text == "daily" || text == "every day" {
        return Ok((0..7).collect());
    }
    let mut out = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    out.push(d);
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => out.push(day(part)?),
        }
    }
    Ok(out)
}

/// `09:00-18:00`, `09:00-13:00, 14:00-18:00`, `closed`, `24h`.
pub fn parse_ranges(text: &str) -> Result<Vec<Range>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("closed") {
        return Ok(Vec::new());
    }
    if text.eq_ignore_ascii_case("24h") {
        return Ok(vec![(0, 1440)]);
    }
    let minute = |s: &str| -> Result<u16, String> {
        let s = s.trim();
        let (h, m) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}' is not a time (HH:MM)"))?;
        let (h, m): (u16, u16) = match (h.parse(), m.parse()) {
            (Ok(h), Ok(m)) if m < 60 && (h < 24 || (h == 24 && m == 0)) && m_len(s) => (h, m),
            _ => return Err(format!("'{s}' is not a time (HH:MM)")),
        };
        Ok(h * 60 + m)
    };
    let mut out = Vec::new();
    for part in text.split(',') {
        let (a, b) = part
            .split_once('-')
            .ok_or_else(|| format!("'{}' is not a range (HH:MM-HH:MM)", part.trim()))?;
        let (a, b) = (minute(a)?, minute(b)?);
        if a >= b {
            return Err(format!("'{}' ends before it starts", part.trim()));
        }
        out.push((a, b));
    }
    Ok(out)
}

fn m_len(s: &str) -> bool {
    s.split_once(':')
        .map(|(_, m)| m.len() == 2)
        .unwrap_or(false)
}
