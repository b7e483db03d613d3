mod calendar;
mod demo;
mod expr;
mod load;
mod nodes;

use std::collections::BTreeMap;
use std::sync::Arc;

use hotline_flow::sim::Sim;
use hotline_flow::{load_calendars, load_flow, Calendar, Flow, Known, Value};

/// 2026-11-23 (a Monday) 12:00 in Moscow.
pub const MONDAY_NOON: i64 = 1_795_424_400_000;

pub fn flow(source: &str) -> Arc<Flow> {
    match load_flow("test.yaml", source, &Known::default()) {
        Ok(f) => Arc::new(f),
        Err(e) => panic!("flow refused:\n{e}"),
    }
}

pub fn calendars() -> Vec<Calendar> {
    load_calendars(
        "calendars.yaml",
        include_str!("../../flows/calendars.yaml"),
        "Europe/Moscow",
    )
    .unwrap()
}

pub fn vars(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub fn sim(source: &str) -> Sim {
    Sim::new(flow(source), calendars(), vars(&[]), MONDAY_NOON)
}

pub fn text(s: &str) -> Value {
    Value::Str(s.into())
}
