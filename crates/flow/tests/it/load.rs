use std::collections::BTreeSet;

use hotline_flow::{load_flow, Known};
use proptest::prelude::*;

fn errors(source: &str) -> Vec<String> {
    errors_with(source, &Known::default())
}

fn errors_with(source: &str, known: &Known) -> Vec<String> {
    match load_flow("broken.yaml", source, known) {
        Ok(_) => panic!("accepted:\n{source}"),
        Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
    }
}

fn has(errors: &[String], line: usize, text: &str) {
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("broken.yaml:{line}:")) && e.contains(text)),
        "no error at line {line} containing {text:?} in {errors:#?}"
    );
}

#[test]
fn the_shipped_flow_loads() {
    let known = Known {
        queues: Some(BTreeSet::from([
            "Карты / Cards".to_string(),
            "Кредиты / Loans".to_string(),
        ])),
        calendars: Some(BTreeSet::from(["support".to_string()])),
    };
    let f = load_flow("demo.yaml", include_str!("../../flows/demo.yaml"), &known).unwrap();
    assert_eq!(f.name, "demo");
    assert_eq!(f.nodes[f.start].name, "greeting");
}

#[test]
fn yaml_syntax_errors_have_a_line() {
    let e = errors("flow: x\nstart: a\nnodes:\n  a: [\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("broken.yaml:5:") && e[0].contains("not valid YAML"),
        "{e:?}"
    );
    let e = errors("");
    has(&e, 1, "empty");
    let e = errors("- a\n- b\n");
    has(&e, 1, "a flow is a mapping");
}

#[test]
fn missing_and_unknown_keys() {
    let e = errors("flow: x\nnodes:\n  a:\n    hangup:\ncolour: red\n");
    has(&e, 1, "needs 'start'");
    has(&e, 5, "unknown key 'colour'");
    let e = errors("flow: x\nstart: a\nnodes:\n  a:\n    play: hi\n    nxt: a\n");
    has(&e, 4, "needs 'next'");
    has(
        &e,
        6,
        "unknown key 'nxt' (expected one of: play, barge_in, next)",
    );
}

#[test]
fn references_to_missing_nodes() {
    let e = errors(
        "flow: x\nstart: main\nnodes:\n  main:\n    menu: pick\n    options:\n      \"1\": sales\n      \"2\": bye\n  bye:\n    hangup:\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    has(
        &e,
        7,
        "option '1' goes to 'sales', which is not a node of this flow",
    );
    let e = errors("flow: x\nstart: nowhere\nnodes:\n  a:\n    hangup:\n");
    has(&e, 2, "start goes to 'nowhere'");
}

#[test]
fn node_type_problems() {
    let e = errors(
        "flow: x\nstart: a\nnodes:\n  a:\n    next: a\n  b:\n    play: x\n    hangup:\n  c: 5\n",
    );
    has(&e, 4, "node 'a' has no type");
    has(&e, 6, "several types: play, hangup");
    has(&e, 9, "must be a mapping");
}

#[test]
fn values_are_checked() {
    let source = "\
flow: x
start: m
language: fr
nodes:
  m:
    menu: \"pick {name\"
    options:
      \"12\": m
      \"1\": m
      \"1\": m
    timeout: soon
    retries: -1
    on_failure: c
  c:
    collect: number
    into: \"bad name\"
    min: 5
    max: 2
    terminator: \"##\"
    valid: \"len(value) = 4\"
    next: q
  q:
    queue: Sales
    announce:
      every: 2s
      prompt: hi
    max_wait: 10m
  l:
    lookup:
      http:
        url: ftp://crm
        method: PUT
    into: order
    timeout: 1h
    next: q
";
    let known = Known {
        queues: Some(BTreeSet::from(["Support".to_string()])),
        calendars: None,
    };
    let e = errors_with(source, &known);
    has(&e, 3, "'fr' is not a language we speak");
    has(&e, 6, "'{' not closed");
    has(&e, 8, "'12' is not a phone key");
    has(&e, 10, "option '1' is given twice");
    has(&e, 11, "'soon' is not a duration");
    has(&e, 12, "retries must be a whole number from 0 to 10");
    has(&e, 16, "'bad name' is not a variable name");
    has(&e, 14, "min (5) is more than max (2)");
    has(&e, 19, "'##' is not a phone key");
    has(&e, 20, "alone is not an operator");
    has(&e, 23, "no queue named 'Sales'");
    has(&e, 31, "url must start with http");
    has(&e, 32, "method must be GET or POST");
    has(&e, 34, "timeout must be more than 0 and at most 10s");
    has(&e, 25, "announce every must be at least 10s");
    has(&e, 22, "max_wait needs 'next'");
}

#[test]
fn expression_errors_point_into_the_expression() {
    let e = errors("flow: x\nstart: c\nnodes:\n  c:\n    condition: customer.vip and\n    then: h\n    else: h\n  h:\n    hangup:\n");
    // `condition: ` is 11 characters; the expression's end is 16 characters further.
    assert!(e[0].starts_with("broken.yaml:5:32:"), "{e:?}");
}

#[test]
fn unknown_calendars_are_named() {
    let known = Known {
        queues: None,
        calendars: Some(BTreeSet::from(["support".to_string()])),
    };
    let e = errors_with(
        "flow: x\nstart: c\nnodes:\n  c:\n    condition: open('sales')\n    then: h\n    else: h\n  h:\n    hangup:\n",
        &known,
    );
    has(&e, 5, "no calendar named 'sales'");
}

#[test]
fn unreachable_nodes_and_busy_loops() {
    let e = errors("flow: x\nstart: a\nnodes:\n  a:\n    hangup:\n  lost:\n    hangup:\n");
    has(&e, 6, "node 'lost' cannot be reached from start");
    let e = errors(
        "flow: x\nstart: a\nnodes:\n  a:\n    set: { n: x }\n    next: b\n  b:\n    condition: n == 'x'\n    then: a\n    else: c\n  c:\n    hangup:\n",
    );
    has(&e, 4, "loop without waiting for the caller");
    // A loop through a menu waits for the caller: fine.
    load_flow(
        "ok.yaml",
        "flow: x\nstart: a\nnodes:\n  a:\n    set: { n: x }\n    next: b\n  b:\n    menu: again?\n    options: { \"1\": a }\n",
        &Known::default(),
    )
    .unwrap();
}

#[test]
fn anchors_are_expanded_and_bombs_refused() {
    let ok = "flow: x\nstart: a\nnodes:\n  a:\n    menu: &p hello\n    options: { \"1\": b }\n    invalid: *p\n  b:\n    hangup: *p\n";
    load_flow("ok.yaml", ok, &Known::default()).unwrap();
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..8 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("b{}", i - 1)
        };
        bomb.push_str(&format!("b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    let e = errors(&bomb);
    assert!(e.iter().any(|e| e.contains("too many nodes")), "{e:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_loader_never_panics(source in "[ a-z0-9:\\-\\[\\]{}'\"#&*!|>.,\n]{0,200}") {
        let _ = load_flow("any.yaml", &source, &Known::default());
    }

    #[test]
    fn the_loader_never_panics_on_flow_shapes(
        node in "(play|menu|collect|lookup|condition|switch|set|queue|transfer|voicemail|callback|hangup)",
        key in "(next|options|into|then|else|cases|default|min|max|timeout|every|prompt|http|table)",
        value in "[ a-z0-9'{}()=<>!.]{0,20}",
    ) {
        let source = format!("flow: x\nstart: a\nnodes:\n  a:\n    {node}: {value}\n    {key}: {value}\n  b:\n    hangup:\n");
        let _ = load_flow("any.yaml", &source, &Known::default());
    }
}
