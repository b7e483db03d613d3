//! The shipped demo flow: self-service order status, the menu, hours and the queue.

use hotline_flow::run::{Action, Input, LookupRequest, LookupResult, Outcome};
use hotline_flow::sim::Sim;
use hotline_flow::Value;
use serde_json::json;

use crate::{calendars, flow, text, vars, MONDAY_NOON};

fn demo(v: &[(&str, Value)], at: i64) -> Sim {
    Sim::new(
        flow(include_str!("../../flows/demo.yaml")),
        calendars(),
        vars(v),
        at,
    )
    .respond(|r| match r {
        LookupRequest::Table { table, key } if table == "orders" && key == "123456" => Some((
            150,
            LookupResult::Found(
                json!({"status_text": "карта готова, её можно забрать в отделении"}),
            ),
        )),
        _ => Some((150, LookupResult::NotFound)),
    })
}

#[test]
fn a_known_caller_checks_an_order_without_an_agent() {
    let mut s = demo(
        &[
            ("customer.first_name", text("Анна")),
            ("caller.number", text("+74951234567")),
        ],
        MONDAY_NOON,
    );
    assert_eq!(s.said()[0], "Здравствуйте, Анна! Вы позвонили в Демо-банк.");
    s.wait(4_000);
    s.press("1");
    s.wait(1_000);
    s.press("123456");
    s.wait(4_000);
    let said = s.said();
    assert!(
        said.contains(&"Заявка 123456: карта готова, её можно забрать в отделении.".to_string()),
        "{said:#?}"
    );
    // Silence after the answer: goodbye.
    s.wait(15_000);
    assert_eq!(s.outcome(), Some(&Outcome::Completed));
    assert_eq!(s.said().last().unwrap(), "Спасибо за звонок. До свидания!");
    assert!(!s
        .actions
        .iter()
        .any(|(_, a)| matches!(a, Action::Enqueue { .. })));
}

#[test]
fn an_unknown_order_then_an_agent() {
    let mut s = demo(&[], MONDAY_NOON);
    assert_eq!(s.said()[0], "Здравствуйте! Вы позвонили в Демо-банк.");
    s.press("1");
    s.press("999999");
    s.wait(3_000);
    assert!(s.said().contains(&"Заявка 999999 не найдена.".to_string()));
    s.wait(2_000);
    s.press("0");
    assert!(s
        .actions
        .iter()
        .any(|(_, a)| matches!(a, Action::Enqueue { queue, .. } if queue == "Карты / Cards")));
    s.input(Input::Answered {
        agent: "1001".into(),
    });
    assert_eq!(s.outcome(), Some(&Outcome::Connected));
}

#[test]
fn vip_callers_get_priority_and_english_speakers_a_skill() {
    let mut s = demo(&[("customer.vip", Value::Bool(true))], MONDAY_NOON);
    s.press("9");
    let enqueue = s.actions.iter().find_map(|(_, a)| match a {
        Action::Enqueue {
            priority, skills, ..
        } => Some((*priority, skills.clone())),
        _ => None,
    });
    s.wait(5_000);
    let enqueue = enqueue.or_else(|| {
        s.actions.iter().find_map(|(_, a)| match a {
            Action::Enqueue {
                priority, skills, ..
            } => Some((*priority, skills.clone())),
            _ => None,
        })
    });
    assert_eq!(
        enqueue,
        Some((
            50,
            vec![("vip".to_string(), 3), ("language.en".to_string(), 3)]
        ))
    );
    assert!(s
        .said()
        .contains(&"Please hold, an agent will answer shortly.".to_string()));
}

#[test]
fn after_hours_callers_leave_a_message() {
    let mut s = demo(&[], MONDAY_NOON + 10 * 3_600_000);
    s.wait(20_000);
    assert!(s
        .said()
        .iter()
        .any(|t| t.starts_with("Сейчас мы не работаем")));
    assert!(s
        .actions
        .iter()
        .any(|(_, a)| matches!(a, Action::RecordVoicemail { .. })));
}
