//! Every node type, run through the simulator with scripted input.

use hotline_flow::run::{Action, Input, LookupRequest, LookupResult, Outcome, Target};
use hotline_flow::sim::Sim;
use hotline_flow::Value;
use serde_json::json;

use crate::{calendars, flow, sim, text, vars, MONDAY_NOON};

fn actions(s: &Sim) -> Vec<Action> {
    s.actions.iter().map(|(_, a)| a.clone()).collect()
}

#[test]
fn play_then_hangup() {
    let mut s = sim("flow: x\nstart: hi\nnodes:\n  hi:\n    play: [\"Привет\", {pause: 500ms}, {file: hello.wav}, {text: Hello, language: en}]\n    next: bye\n  bye:\n    hangup: Пока\n");
    assert_eq!(s.said(), vec!["Привет <500ms> <hello.wav> Hello"]);
    s.wait(10_000);
    assert_eq!(s.said()[1], "Пока");
    assert_eq!(s.outcome(), Some(&Outcome::Completed));
    assert_eq!(actions(&s).last(), Some(&Action::Hangup));
    assert_eq!(
        s.kinds(),
        [
            "hi:entered",
            "hi:played",
            "bye:entered",
            "bye:played",
            "bye:ended"
        ]
    );
}

const MENU: &str = "\
flow: x
start: m
nodes:
  m:
    menu: Один или два
    options: { \"1\": one, \"2\": two }
    timeout: 4s
    retries: 1
    invalid: Нет такого
    no_input: Не слышу
    on_failure: fail
  one:
    hangup: один
  two:
    hangup: два
  fail:
    hangup: увы
";

#[test]
fn menu_choice_during_the_prompt_barges_in() {
    let mut s = sim(MENU);
    s.wait(200);
    s.press("2");
    assert!(actions(&s).contains(&Action::StopPlayback));
    assert_eq!(s.call.vars().get("menu.m"), Some(&text("2")));
    s.wait(5_000);
    assert_eq!(s.said().last().unwrap(), "два");
    assert!(s.kinds().contains(&"m:menu_choice".to_string()));
}

#[test]
fn menu_invalid_then_silence_then_failure() {
    let mut s = sim(MENU);
    s.wait(2_000); // prompt over, waiting
    s.press("7");
    assert_eq!(s.said()[1], "Нет такого Один или два");
    s.wait(2_000 + 4_000);
    // the second failure (silence) used up the one retry
    assert_eq!(s.said().last().unwrap(), "увы");
    let kinds = s.kinds();
    assert!(kinds.contains(&"m:menu_invalid".to_string()));
    assert!(kinds.contains(&"m:no_input".to_string()));
    assert!(kinds.contains(&"m:menu_failed".to_string()));
    assert!(kinds.contains(&"fail:entered".to_string()));
}

#[test]
fn menu_silence_replays_with_the_no_input_prompt() {
    let mut s = sim(MENU);
    s.wait(900 + 4_000);
    assert_eq!(s.said()[1], "Не слышу Один или два");
    s.wait(2_000);
    s.press("1");
    s.wait(5_000);
    assert_eq!(s.said().last().unwrap(), "один");
}

const COLLECT: &str = "\
flow: x
start: c
nodes:
  c:
    collect: Номер
    into: order
    min: 4
    max: 6
    terminator: \"#\"
    timeout: 5s
    inter_digit_timeout: 2s
    retries: 1
    valid: \"starts_with(value, '1')\"
    invalid: Неверно
    next: ok
    on_failure: bad
  ok:
    hangup: \"Принято {order}\"
  bad:
    hangup: Не вышло
";

#[test]
fn collect_ends_with_the_terminator() {
    let mut s = sim(COLLECT);
    s.wait(1_000);
    s.press("1234#");
    s.wait(3_000);
    assert_eq!(s.said().last().unwrap(), "Принято 1234");
    assert!(s.steps.iter().any(|st| matches!(&st.what, hotline_flow::What::Collected { digits, into } if digits == "1234" && into == "order")));
}

#[test]
fn collect_ends_at_max_and_after_the_inter_digit_timeout() {
    let mut s = sim(COLLECT);
    s.press("123456"); // during the prompt: barge-in, then max reached
    assert_eq!(s.call.vars().get("order"), Some(&text("123456")));
    let mut s = sim(COLLECT);
    s.wait(1_000);
    s.press("12345");
    s.wait(1_900);
    assert_eq!(s.call.vars().get("order"), None);
    s.wait(200);
    assert_eq!(s.call.vars().get("order"), Some(&text("12345")));
}

#[test]
fn collect_validation_and_retries() {
    let mut s = sim(COLLECT);
    s.wait(1_000);
    s.press("12#"); // too short
    assert_eq!(s.said().last().unwrap(), "Неверно Номер");
    s.wait(1_000);
    s.press("9999#"); // fails `valid`
    s.wait(3_000);
    assert_eq!(s.said().last().unwrap(), "Не вышло");
    let kinds = s.kinds();
    assert_eq!(
        kinds.iter().filter(|k| *k == "c:collect_invalid").count(),
        2
    );
    assert!(kinds.contains(&"c:collect_failed".to_string()));
}

#[test]
fn typeahead_after_a_barged_prompt_reaches_the_menu() {
    let mut s = sim("flow: x\nstart: p\nnodes:\n  p:\n    play: Длинное приветствие\n    next: m\n  m:\n    menu: Выбор\n    options: { \"3\": t }\n  t:\n    hangup: три\n");
    s.wait(100);
    s.press("3");
    s.wait(2_000);
    assert_eq!(
        s.said(),
        vec!["Длинное приветствие", "три"],
        "the menu prompt is skipped"
    );
}

const LOOKUP: &str = "\
flow: x
start: l
nodes:
  l:
    lookup:
      http:
        method: POST
        url: \"http://127.0.0.1/orders/{caller.number}\"
        headers: { Authorization: \"Bearer {token}\" }
        body: '{{\"n\": \"{caller.number}\"}}'
    into: order
    timeout: 2s
    waiting: Минутку
    next: found
    not_found: missing
    on_error: broken
  found:
    hangup: \"Статус: {order.status}, сумма {order.total.amount}\"
  missing:
    hangup: Нет заказа
  broken:
    hangup: Сломалось
";

fn lookup_sim(delay: u64, result: LookupResult) -> Sim {
    let v = vars(&[
        ("caller.number", text("+74950000001")),
        ("token", text("t0k")),
    ]);
    let mut s = Sim::new(flow(LOOKUP), calendars(), v, MONDAY_NOON).respond(move |request| {
        assert_eq!(
            request,
            &LookupRequest::Http {
                method: hotline_flow::flow::HttpMethod::Post,
                url: "http://127.0.0.1/orders/+74950000001".into(),
                headers: vec![("Authorization".into(), "Bearer t0k".into())],
                body: Some("{\"n\": \"+74950000001\"}".into()),
            }
        );
        Some((delay, result.clone()))
    });
    assert!(matches!(
        s.actions[0].1,
        Action::Lookup {
            budget_ms: 2_000,
            ..
        }
    ));
    s.wait(10_000);
    s
}

#[test]
fn lookup_found_fills_variables() {
    let s = lookup_sim(
        300,
        LookupResult::Found(json!({"status": "в пути", "total": {"amount": 1500}})),
    );
    assert_eq!(s.said(), vec!["Минутку", "Статус: в пути, сумма 1500"]);
    assert_eq!(
        s.call.vars().get("order.total.amount"),
        Some(&Value::Num(1500.0))
    );
}

#[test]
fn lookup_not_found_and_error_take_their_branches() {
    let s = lookup_sim(300, LookupResult::NotFound);
    assert_eq!(s.said().last().unwrap(), "Нет заказа");
    let s = lookup_sim(300, LookupResult::Failed("HTTP 500".into()));
    assert_eq!(s.said().last().unwrap(), "Сломалось");
    assert!(s.kinds().contains(&"l:lookup_error".to_string()));
}

#[test]
fn a_slow_lookup_never_holds_the_caller() {
    // The answer comes after the 2 s budget: the flow has gone on without it.
    let s = lookup_sim(2_500, LookupResult::Found(json!({"status": "late"})));
    assert_eq!(s.said().last().unwrap(), "Сломалось");
    assert!(actions(&s)
        .iter()
        .any(|a| matches!(a, Action::CancelLookup { .. })));
    assert!(s.kinds().contains(&"l:lookup_timeout".to_string()));
    assert_eq!(s.call.vars().get("order.status"), None);
}

#[test]
fn table_and_customer_lookups_render_their_keys() {
    let mut s = Sim::new(
        flow("flow: x\nstart: t\nnodes:\n  t:\n    lookup: { table: orders, key: \"{n}\" }\n    into: o\n    next: c\n  c:\n    lookup: { customer: \"{caller.number}\" }\n    into: crm\n    next: e\n  e:\n    hangup:\n"),
        calendars(),
        vars(&[("n", text("123456")), ("caller.number", text("+7999"))]),
        MONDAY_NOON,
    )
    .respond(|r| match r {
        LookupRequest::Table { table, key } if table == "orders" && key == "123456" => {
            Some((10, LookupResult::Found(json!([{"status": "ready"}]))))
        }
        LookupRequest::Customer { identifier } if identifier == "+7999" => {
            Some((10, LookupResult::Found(json!({"name": "Иван"}))))
        }
        other => panic!("unexpected {other:?}"),
    });
    s.wait(1_000);
    assert_eq!(s.call.vars().get("o.status"), Some(&text("ready")));
    assert_eq!(s.call.vars().get("crm.name"), Some(&text("Иван")));
    assert_eq!(s.outcome(), Some(&Outcome::Completed));
}

#[test]
fn condition_switch_and_set() {
    let source = "\
flow: x
start: s
nodes:
  s:
    set: { tier: \"{customer.segment}\", greeting: \"Добрый день\" }
    priority: 20
    skills: [vip:4, language.en]
    language: en
    next: c
  c:
    condition: \"tier == 'gold' and open('support')\"
    then: w
    else: other
  w:
    switch: \"{caller.region}\"
    cases: { msk: moscow, spb: piter }
    default: other
  moscow:
    queue: Support
  piter:
    hangup: Питер
  other:
    hangup: Другое
";
    let v = vars(&[
        ("customer.segment", text("gold")),
        ("caller.region", text("msk")),
    ]);
    let s = Sim::new(flow(source), calendars(), v, MONDAY_NOON);
    assert_eq!(
        actions(&s)[0],
        Action::Enqueue {
            queue: "Support".into(),
            priority: 20,
            skills: vec![("vip".into(), 4), ("language.en".into(), 1)],
        }
    );
    assert_eq!(s.call.language(), "en");
    assert!(s.kinds().contains(&"c:branch".to_string()));
    // Closed hours send gold callers elsewhere.
    let v = vars(&[
        ("customer.segment", text("gold")),
        ("caller.region", text("msk")),
    ]);
    let s = Sim::new(flow(source), calendars(), v, MONDAY_NOON + 10 * 3_600_000);
    assert_eq!(s.said(), vec!["Другое"]);
    // The switch's default.
    let v = vars(&[
        ("customer.segment", text("gold")),
        ("caller.region", text("nsk")),
    ]);
    let s = Sim::new(flow(source), calendars(), v, MONDAY_NOON);
    assert_eq!(s.said(), vec!["Другое"]);
}

const QUEUE: &str = "\
flow: x
start: q
nodes:
  q:
    queue: Support
    music: { file: jazz.wav }
    announce:
      every: 30s
      prompt: \"Вы {queue.position}-й, ждать {queue.wait_minutes} мин\"
    offer_callback: { key: \"1\", next: cb }
    max_wait: 2m
    next: vm
  cb:
    callback: Перезвоним
  vm:
    voicemail: Оставьте сообщение
    max: 30s
    queue: Support
";

#[test]
fn queue_announces_position_and_connects() {
    let mut s = sim(QUEUE);
    assert!(matches!(&actions(&s)[0], Action::Enqueue { queue, .. } if queue == "Support"));
    assert!(matches!(&actions(&s)[1], Action::Music(Some(m)) if m.len() == 1));
    s.input(Input::QueueStatus {
        position: 3,
        estimated_wait_s: Some(130),
    });
    s.wait(30_000);
    assert_eq!(s.said(), vec!["Вы 3-й, ждать 3 мин"]);
    s.input(Input::QueueStatus {
        position: 1,
        estimated_wait_s: Some(20),
    });
    s.wait(30_000);
    assert_eq!(s.said()[1], "Вы 1-й, ждать 1 мин");
    s.input(Input::Answered {
        agent: "1001".into(),
    });
    assert_eq!(s.outcome(), Some(&Outcome::Connected));
    assert!(actions(&s).contains(&Action::StopMusic));
    assert!(!actions(&s).contains(&Action::Hangup));
    assert!(s.kinds().contains(&"q:answered".to_string()));
}

#[test]
fn queue_callback_key_keeps_the_place() {
    let mut s = Sim::new(
        flow(QUEUE),
        calendars(),
        vars(&[("caller.number", text("+74951112233"))]),
        MONDAY_NOON,
    );
    s.wait(5_000);
    s.press("5"); // not the callback key: ignored
    s.press("1");
    let a = actions(&s);
    assert!(a.contains(&Action::Callback {
        queue: "Support".into(),
        number: "+74951112233".into()
    }));
    assert!(
        !a.contains(&Action::Dequeue),
        "the callback keeps the place: no dequeue"
    );
    s.wait(5_000);
    assert_eq!(s.outcome(), Some(&Outcome::CallbackRequested));
    assert_eq!(s.said().last().unwrap(), "Перезвоним");
}

#[test]
fn queue_max_wait_goes_to_voicemail() {
    let mut s = sim(QUEUE);
    s.wait(120_000);
    let a = actions(&s);
    assert!(a.contains(&Action::Dequeue));
    assert!(s.kinds().contains(&"q:queue_max_wait".to_string()));
    s.wait(3_000); // the voicemail prompt
    assert!(actions(&s).contains(&Action::RecordVoicemail {
        queue: "Support".into(),
        max_ms: 30_000
    }));
    s.press("#");
    assert!(actions(&s).contains(&Action::StopRecording));
    s.input(Input::RecordingDone { duration_ms: 4_200 });
    assert_eq!(s.outcome(), Some(&Outcome::Voicemail));
    assert!(s.kinds().contains(&"vm:voicemail_recorded".to_string()));
}

#[test]
fn hanging_up_after_the_message_leaves_it() {
    let mut s = sim(QUEUE);
    s.wait(120_000);
    s.wait(3_000);
    assert!(actions(&s)
        .iter()
        .any(|a| matches!(a, Action::RecordVoicemail { .. })));
    s.wait(6_000);
    s.input(Input::HangUp);
    assert!(actions(&s).contains(&Action::StopRecording));
    assert_eq!(
        s.outcome(),
        Some(&Outcome::Voicemail),
        "left, not abandoned"
    );
    assert!(s.kinds().contains(&"vm:voicemail_recorded".to_string()));
    // Before the recording starts, hanging up is abandoning.
    let mut s = sim(QUEUE);
    s.wait(120_000);
    s.input(Input::HangUp);
    assert_eq!(s.outcome(), Some(&Outcome::Abandoned));
}

#[test]
fn caller_hanging_up_in_the_queue_abandons() {
    let mut s = sim(QUEUE);
    s.wait(10_000);
    s.input(Input::HangUp);
    assert_eq!(s.outcome(), Some(&Outcome::Abandoned));
    assert_eq!(s.call.poll_timeout(), None, "no timers after the end");
    let n = s.actions.len();
    s.wait(200_000);
    assert_eq!(s.actions.len(), n, "nothing happens after the end");
}

#[test]
fn queue_rejected_goes_on() {
    let mut s = sim(QUEUE);
    s.input(Input::QueueRejected("no agents".into()));
    assert!(s.kinds().contains(&"q:queue_rejected".to_string()));
    assert_eq!(s.call.current(), "vm");
}

const TRANSFER: &str = "\
flow: x
start: t
nodes:
  t:
    transfer: { number: \"+7495{ext}\" }
    prompt: Соединяю
    timeout: 20s
    on_failure: a
  a:
    transfer: { agent: \"1002\" }
    on_failure: q
  q:
    transfer: { queue: Support }
";

#[test]
fn transfers_to_a_number_an_agent_and_a_queue() {
    let mut s = Sim::new(
        flow(TRANSFER),
        calendars(),
        vars(&[("ext", text("1234567"))]),
        MONDAY_NOON,
    );
    assert!(actions(&s).contains(&Action::Transfer {
        target: Target::Number {
            number: "+74951234567".into()
        },
        timeout_ms: 20_000
    }));
    s.wait(20_000); // nobody answers
    assert!(actions(&s).contains(&Action::CancelTransfer));
    assert!(actions(&s).contains(&Action::Transfer {
        target: Target::Agent {
            agent: "1002".into()
        },
        timeout_ms: 30_000
    }));
    s.input(Input::TransferFailed("busy".into()));
    assert!(actions(&s)
        .iter()
        .any(|a| matches!(a, Action::Enqueue { queue, .. } if queue == "Support")));
    s.input(Input::Answered {
        agent: "1003".into(),
    });
    // Answered from the queue it was transferred to.
    assert_eq!(s.outcome(), Some(&Outcome::Connected));
    let kinds = s.kinds();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.ends_with(":transfer_failed"))
            .count(),
        2
    );
}

#[test]
fn a_transfer_answered_ends_the_flow() {
    let mut s = Sim::new(
        flow(TRANSFER),
        calendars(),
        vars(&[("ext", text("1"))]),
        MONDAY_NOON,
    );
    s.input(Input::Answered {
        agent: "ext".into(),
    });
    assert_eq!(s.outcome(), Some(&Outcome::Transferred));
}

#[test]
fn hangup_mid_lookup_cancels_it() {
    let mut s = sim("flow: x\nstart: l\nnodes:\n  l:\n    lookup: { table: t, key: k }\n    into: o\n    next: e\n  e:\n    hangup:\n");
    s.input(Input::HangUp);
    assert!(actions(&s)
        .iter()
        .any(|a| matches!(a, Action::CancelLookup { .. })));
    assert_eq!(s.outcome(), Some(&Outcome::Abandoned));
}

#[test]
fn callback_without_a_queue_fails_cleanly() {
    let mut s = sim("flow: x\nstart: c\nnodes:\n  c:\n    callback: Перезвоним\n");
    s.wait(5_000);
    assert_eq!(s.outcome(), Some(&Outcome::Failed));
    assert!(!actions(&s)
        .iter()
        .any(|a| matches!(a, Action::Callback { .. })));
}

#[test]
fn a_trace_serialises_for_the_timeline() {
    let mut s = sim(MENU);
    s.press("1");
    s.wait(3_000);
    let json = serde_json::to_value(&s.steps).unwrap();
    assert_eq!(json[0]["kind"], "entered");
    assert_eq!(json[0]["node"], "m");
    assert!(json
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["kind"] == "menu_choice" && v["digit"] == "1"));
}
