use hotline_flow::calendar::{parse_days, parse_ranges};
use hotline_flow::load_calendars;

use crate::{calendars, MONDAY_NOON};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

#[test]
fn weekly_hours_in_the_calendars_time_zone() {
    let cal = &calendars()[0];
    assert_eq!(cal.name, "support");
    // Monday 12:00 Moscow is open; 08:59 and 21:00 are not (Moscow is UTC+3).
    assert!(cal.is_open(MONDAY_NOON));
    assert!(!cal.is_open(MONDAY_NOON - 3 * HOUR - 60_000));
    assert!(cal.is_open(MONDAY_NOON - 3 * HOUR));
    assert!(!cal.is_open(MONDAY_NOON + 9 * HOUR));
    assert!(cal.is_open(MONDAY_NOON + 9 * HOUR - 60_000));
}

#[test]
fn holidays_close_and_special_days_shorten() {
    let cal = &calendars()[0];
    // 2027-01-01 is 39 days after 2026-11-23.
    let new_year = MONDAY_NOON + 39 * DAY;
    assert!(cal.is_holiday(new_year));
    assert!(!cal.is_open(new_year));
    assert!(!cal.is_holiday(new_year - DAY));
    // 2026-12-31 works 09:00–15:00 only.
    let eve = new_year - DAY;
    assert!(cal.is_open(eve));
    assert!(!cal.is_open(eve + 3 * HOUR));
}

#[test]
fn days_and_ranges() {
    assert_eq!(parse_days("mon-fri").unwrap(), vec![0, 1, 2, 3, 4]);
    assert_eq!(parse_days("fri-mon").unwrap(), vec![4, 5, 6, 0]);
    assert_eq!(parse_days("sat,sun").unwrap(), vec![5, 6]);
    assert_eq!(parse_days("daily").unwrap().len(), 7);
    assert!(parse_days("funday").is_err());
    assert_eq!(
        parse_ranges("09:00-13:00, 14:00-18:00").unwrap(),
        vec![(540, 780), (840, 1080)]
    );
    assert_eq!(parse_ranges("24h").unwrap(), vec![(0, 1440)]);
    assert_eq!(parse_ranges("00:00-24:00").unwrap(), vec![(0, 1440)]);
    assert!(parse_ranges("closed").unwrap().is_empty());
    for bad in [
        "9-18",
        "18:00-09:00",
        "09:60-10:00",
        "25:00-26:00",
        "9:0-10:00",
    ] {
        assert!(parse_ranges(bad).is_err(), "{bad}");
    }
}

#[test]
fn calendar_errors_name_the_line() {
    let source = "calendars:\n  a:\n    timezone: Mars/Olympus\n    hours: { mon-fri: \"9-18\" }\n    holidays: [2026-13-01]\n";
    let e = load_calendars("cal.yaml", source, "UTC").unwrap_err();
    let text = e.to_string();
    assert!(text.contains("cal.yaml:3:"), "{text}");
    assert!(text.contains("Mars/Olympus"), "{text}");
    assert!(text.contains("cal.yaml:4:"), "{text}");
    assert!(text.contains("cal.yaml:5:"), "{text}");
}
