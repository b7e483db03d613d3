//! Hotline's contact-flow language, sans-IO.
//!
//! A flow is a YAML file: named nodes (play, menu, collect, lookup, condition, switch, set,
//! queue, transfer, voicemail, callback, hangup) joined by their names. [`load_flow`] reads
//! and checks one, naming the file, line and column of every problem; [`Call`] runs one
//! caller through it: inputs (digits, prompt ends, lookup answers, queue news) and the time go
//! in, [`Action`]s for the telephony shell and [`Step`]s for the timeline come out.
//! [`sim::Sim`] runs a flow against scripted input in virtual time.

pub mod calendar;
pub mod expr;
pub mod flow;
pub mod load;
pub mod run;
pub mod sim;
pub mod yaml;

pub use calendar::Calendar;
pub use expr::{Expr, Template, Value};
pub use flow::{Flow, NodeKind};
pub use load::{load_calendars, load_flow, Diagnostic, Diagnostics, Known};
pub use run::{
    Action, Call, Input, LookupRequest, LookupResult, Millis, Outcome, Speech, Step, Target, What,
};
