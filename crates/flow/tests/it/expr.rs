use std::collections::BTreeMap;

use hotline_flow::expr::{Env, Expr, Template, Value};

struct TestEnv(BTreeMap<String, Value>);

impl Env for TestEnv {
    fn var(&self, path: &str) -> Value {
        self.0.get(path).cloned().unwrap_or_default()
    }
    fn open(&self, calendar: &str) -> Option<bool> {
        (calendar == "support").then_some(true)
    }
    fn holiday(&self, calendar: &str) -> Option<bool> {
        (calendar == "support").then_some(false)
    }
}

fn env() -> TestEnv {
    let mut m = BTreeMap::new();
    m.insert("customer.vip".into(), Value::Bool(true));
    m.insert("customer.segment".into(), Value::Str("gold".into()));
    m.insert("order.amount".into(), Value::Num(1500.0));
    m.insert("digits".into(), Value::Str("0042".into()));
    m.insert("caller.number".into(), Value::Str("+74951234567".into()));
    TestEnv(m)
}

fn eval(s: &str) -> Value {
    Expr::parse(s)
        .unwrap_or_else(|e| panic!("{s}: {e:?}"))
        .eval(&env())
}

#[test]
fn comparisons_and_logic() {
    let cases = [
        ("customer.vip", true),
        ("customer.vip == true", true),
        ("customer.segment == 'gold'", true),
        ("customer.segment != \"gold\"", false),
        ("order.amount > 1000", true),
        ("order.amount >= 1500 and order.amount <= 1500", true),
        ("order.amount < 1000 or customer.vip", true),
        ("not customer.vip", false),
        ("not (customer.vip and order.amount > 2000)", true),
        // digits compare as numbers when both sides are numbers
        ("digits == 42", true),
        ("digits == '0042'", true),
        ("len(digits) == 4", true),
        ("starts_with(caller.number, '+7495')", true),
        ("contains(caller.number, '123')", true),
        ("empty(customer.first_name)", true),
        ("customer.first_name == null", true),
        ("customer.missing > 3", false),
        ("open('support')", true),
        ("open('elsewhere')", false),
        ("holiday('support')", false),
        ("'b' > 'a'", true),
    ];
    for (source, want) in cases {
        assert_eq!(eval(source).truthy(), want, "{source}");
    }
}

#[test]
fn syntax_errors_name_the_offset() {
    let cases = [
        ("customer.vip ==", 15, "ends too soon"),
        ("a = b", 2, "alone"),
        ("open('x'", 8, "')' expected"),
        ("frobnicate(1)", 0, "unknown function"),
        ("open()", 0, "takes 1 argument"),
        ("a and and b", 6, "where a value was expected"),
        ("'open", 0, "not closed"),
        ("a b", 2, "after the expression"),
        ("x $ y", 2, "unexpected character"),
    ];
    for (source, offset, message) in cases {
        let e = Expr::parse(source).expect_err(source);
        assert_eq!(e.offset, offset, "{source}: {e:?}");
        assert!(e.message.contains(message), "{source}: {e:?}");
    }
}

#[test]
fn templates_fill_slots_and_keep_braces() {
    let t = Template::parse("Заказ {digits}: {{ok}} на {order.amount} ₽{customer.none}").unwrap();
    assert_eq!(t.render(&env()), "Заказ 0042: {ok} на 1500 ₽");
    assert_eq!(
        Template::parse("{order.amount}").unwrap().value(&env()),
        Value::Num(1500.0)
    );
    for bad in ["{", "a}", "{}", "{a b}", "{.x}"] {
        assert!(Template::parse(bad).is_err(), "{bad}");
    }
}
