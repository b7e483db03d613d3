//! The small expression language of `condition` and `switch`, and `{var}` templates.
//!
//! ```text
//! expr := or;  or := and ("or" and)*;  and := not ("and" not)*;  not := "not" not | cmp
//! cmp  := term (("==" | "!=" | "<" | "<=" | ">" | ">=") term)?
//! term := number | 'text' | "text" | true | false | null | path | name "(" args ")" | "(" expr ")"
//! ```
//! A path is names joined by dots (`customer.vip`, `order.status`); an unset variable is null.
//! Values compare as numbers when both sides read as numbers, else as text.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A variable's value. Collected digits and template results are text; lookups give any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(untagged)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

impl Value {
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Num(n) => *n != 0.0,
            Value::Str(s) => !s.is_empty() && s != "false",
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            Value::Str(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            Value::Bool(_) | Value::Null => None,
        }
    }

    /// The value as a template prints it: null is empty, whole numbers without a fraction.
    pub fn text(&self) -> String {
        self.to_string()
    }

    /// A JSON value flattened to one level: objects and arrays become `Null` here (the
    /// interpreter flattens them into dotted names), other values keep their kind.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => n.as_f64().map(Value::Num).unwrap_or(Value::Null),
            serde_json::Value::String(s) => Value::Str(s.clone()),
            _ => Value::Null,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            Value::Num(n) => write!(f, "{n}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

/// What an expression may ask of the world: variables and the tenant's calendars.
pub trait Env {
    fn var(&self, path: &str) -> Value;
    /// Is the calendar open now? `None` when there is no such calendar.
    fn open(&self, calendar: &str) -> Option<bool>;
    /// Is today a holiday in the calendar?
    fn holiday(&self, calendar: &str) -> Option<bool>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Open,
    Holiday,
    Empty,
    Len,
    StartsWith,
    Contains,
}

impl Func {
    fn named(name: &str) -> Option<(Func, usize)> {
        Some(match name {
            "open" => (Func::Open, 1),
            "holiday" => (Func::Holiday, 1),
            "empty" => (Func::Empty, 1),
            "len" => (Func::Len, 1),
            "starts_with" => (Func::StartsWith, 2),
            "contains" => (Func::Contains, 2),
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Value),
    Var(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

/// A syntax error at a byte offset of the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
}

impl Expr {
    pub fn parse(source: &str) -> Result<Expr, ExprError> {
        let tokens = lex(source)?;
        let mut p = ExprParser {
            tokens,
            at: 0,
            end: source.len(),
        };
        let e = p.or()?;
        match p.tokens.get(p.at) {
            None => Ok(e),
            Some((offset, t)) => Err(ExprError {
                offset: *offset,
                message: format!("unexpected {t} after the expression"),
            }),
        }
    }

    pub fn eval(&self, env: &dyn Env) -> Value {
        match self {
            Expr::Lit(v) => v.clone(),
            Expr::Var(path) => env.var(path),
            Expr::Not(e) => Value::Bool(!e.eval(env).truthy()),
            Expr::And(a, b) => Value::Bool(a.eval(env).truthy() && b.eval(env).truthy()),
            Expr::Or(a, b) => Value::Bool(a.eval(env).truthy() || b.eval(env).truthy()),
            Expr::Cmp(op, a, b) => Value::Bool(compare(*op, &a.eval(env), &b.eval(env))),
            Expr::Call(f, args) => {
                let a: Vec<Value> = args.iter().map(|e| e.eval(env)).collect();
                match f {
                    Func::Open => Value::Bool(env.open(&a[0].text()).unwrap_or(false)),
                    Func::Holiday => Value::Bool(env.holiday(&a[0].text()).unwrap_or(false)),
                    Func::Empty => Value::Bool(a[0].text().is_empty()),
                    Func::Len => Value::Num(a[0].text().chars().count() as f64),
                    Func::StartsWith => Value::Bool(a[0].text().starts_with(&a[1].text())),
                    Func::Contains => Value::Bool(a[0].text().contains(&a[1].text())),
                }
            }
        }
    }

    /// Every calendar name the expression asks about (for validation against the tenant's).
    pub fn calendars(&self, out: &mut Vec<String>) {
        match self {
            Expr::Lit(_) | Expr::Var(_) => {}
            Expr::Not(e) => e.calendars(out),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) => {
                a.calendars(out);
                b.calendars(out);
            }
            Expr::Call(f, args) => {
                if matches!(f, Func::Open | Func::Holiday) {
                    if let Some(Expr::Lit(v)) = args.first() {
                        out.push(v.text());
                    }
                }
                for a in args {
                    a.calendars(out);
                }
            }
        }
    }
}

pub fn compare(op: Cmp, a: &Value, b: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => match (a.number(), b.number()) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => Some(a.text().cmp(&b.text())),
        },
    };
    match op {
        Cmp::Eq => ord == Some(Ordering::Equal),
        Cmp::Ne => ord != Some(Ordering::Equal),
        Cmp::Lt => ord == Some(Ordering::Less),
        Cmp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        Cmp::Gt => ord == Some(Ordering::Greater),
        Cmp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Text(String),
    Num(f64),
    Op(Cmp),
    LParen,
    RParen,
    Comma,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Name(n) => write!(f, "'{n}'"),
            Tok::Text(_) => f.write_str("text"),
            Tok::Num(_) => f.write_str("a number"),
            Tok::Op(_) => f.write_str("a comparison"),
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::Comma => f.write_str("','"),
        }
    }
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, ExprError> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let tok = match c {
            '(' => {
                chars.next();
                Tok::LParen
            }
            ')' => {
                chars.next();
                Tok::RParen
            }
            ',' => {
                chars.next();
                Tok::Comma
            }
            '\'' | '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some((_, q)) if q == c => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, e)) => text.push(e),
                            None => break,
                        },
                        Some((_, ch)) => text.push(ch),
                        None => {
                            return Err(ExprError {
                                offset: i,
                                message: "text not closed".into(),
                            })
                        }
                    }
                }
                Tok::Text(text)
            }
            '=' | '!' | '<' | '>' => {
                chars.next();
                let eq = chars.peek().map(|&(_, n)| n == '=').unwrap_or(false);
                if eq {
                    chars.next();
                }
                match (c, eq) {
                    ('=', true) => Tok::Op(Cmp::Eq),
                    ('!', true) => Tok::Op(Cmp::Ne),
                    ('<', false) => Tok::Op(Cmp::Lt),
                    ('<', true) => Tok::Op(Cmp::Le),
                    ('>', false) => Tok::Op(Cmp::Gt),
                    ('>', true) => Tok::Op(Cmp::Ge),
                    _ => {
                        return Err(ExprError {
                            offset: i,
                            message: format!("'{c}' alone is not an operator (use == or !=)"),
                        })
                    }
                }
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut text = String::new();
                text.push(c);
                chars.next();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_ascii_digit() || d == '.' {
                        text.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                match text.parse::<f64>() {
                    Ok(n) if n.is_finite() => Tok::Num(n),
                    _ => {
                        return Err(ExprError {
                            offset: i,
                            message: format!("'{text}' is not a number"),
                        })
                    }
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut name = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_alphanumeric() || d == '_' || d == '.' || d == '-' {
                        name.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if name.ends_with('.') || name.contains("..") {
                    return Err(ExprError {
                        offset: i,
                        message: format!("'{name}' is not a variable name"),
                    });
                }
                Tok::Name(name)
            }
            other => {
                return Err(ExprError {
                    offset: i,
                    message: format!("unexpected character '{other}'"),
                })
            }
        };
        out.push((i, tok));
    }
    Ok(out)
}

struct ExprParser {
    tokens: Vec<(usize, Tok)>,
    at: usize,
    end: usize,
}

impl ExprParser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.tokens
            .get(self.at)
            .map(|(o, _)| *o)
            .unwrap_or(self.end)
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ExprError> {
        Err(ExprError {
            offset: self.offset(),
            message: message.into(),
        })
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Name(n)) if n == word) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.and()?;
        while self.keyword("or") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.not()?;
        while self.keyword("and") {
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        let left = self.term()?;
        if let Some(Tok::Op(op)) = self.peek() {
            let op = *op;
            self.at += 1;
            let right = self.term()?;
            return Ok(Expr::Cmp(op, Box::new(left), Box::new(right)));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Expr, ExprError> {
        let Some(tok) = self.peek().cloned() else {
            return self.error("the expression ends too soon");
        };
        self.at += 1;
        match tok {
            Tok::Num(n) => Ok(Expr::Lit(Value::Num(n))),
            Tok::Text(t) => Ok(Expr::Lit(Value::Str(t))),
            Tok::LParen => {
                let e = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return self.error("')' expected");
                }
                self.at += 1;
                Ok(e)
            }
            Tok::Name(n) => match n.as_str() {
                "true" => Ok(Expr::Lit(Value::Bool(true))),
                "false" => Ok(Expr::Lit(Value::Bool(false))),
                "null" => Ok(Expr::Lit(Value::Null)),
                "and" | "or" | "not" => {
                    self.at -= 1;
                    self.error(format!("'{n}' where a value was expected"))
                }
                _ if self.peek() == Some(&Tok::LParen) => {
                    let name_at = self.at - 1;
                    let Some((func, arity)) = Func::named(&n) else {
                        self.at -= 1;
                        return self.error(format!(
                            "unknown function '{n}' (open, holiday, empty, len, starts_with, contains)"
                        ));
                    };
                    self.at += 1;
                    let mut args = Vec::new();
                    if self.peek() != Some(&Tok::RParen) {
                        loop {
                            args.push(self.or()?);
                            if self.peek() == Some(&Tok::Comma) {
                                self.at += 1;
                            } else {
                                break;
                            }
                        }
                    }
                    if self.peek() != Some(&Tok::RParen) {
                        return self.error("')' expected");
                    }
                    self.at += 1;
                    if args.len() != arity {
                        self.at = name_at;
                        return self.error(format!(
                            "{n}() takes {arity} argument{}",
                            if arity == 1 { "" } else { "s" }
                        ));
                    }
                    Ok(Expr::Call(func, args))
                }
                _ => Ok(Expr::Var(n)),
            },
            other => {
                self.at -= 1;
                self.error(format!("{other} where a value was expected"))
            }
        }
    }
}

/// Text with `{path}` slots; `{{` and `}}` are literal braces.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(String),
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, ExprError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, n)| n == '{').unwrap_or(false) => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek().map(|&(_, n)| n == '}').unwrap_or(false) => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, d) in chars.by_ref() {
                        if d == '}' {
                            closed = true;
                            break;
                        }
                        name.push(d);
                    }
                    let name = name.trim().to_string();
                    if !closed {
                        return Err(ExprError {
                            offset: i,
                            message: "'{' not closed (write {{ for a brace)".into(),
                        });
                    }
                    let valid = !name.is_empty()
                        && !name.starts_with('.')
                        && !name.ends_with('.')
                        && name
                            .chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-');
                    if !valid {
                        return Err(ExprError {
                            offset: i,
                            message: format!("'{{{name}}}' does not name a variable"),
                        });
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Var(name));
                }
                '}' => {
                    return Err(ExprError {
                        offset: i,
                        message: "'}' without '{' (write }} for a brace)".into(),
                    })
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    pub fn literal(text: &str) -> Template {
        Template {
            parts: vec![Part::Lit(text.to_string())],
        }
    }

    pub fn render(&self, env: &dyn Env) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => out.push_str(&env.var(v).text()),
            }
        }
        out
    }

    /// A template of one slot and nothing else keeps the variable's kind (a number stays one).
    pub fn value(&self, env: &dyn Env) -> Value {
        match self.parts.as_slice() {
            [Part::Var(v)] => env.var(v),
            _ => Value::Str(self.render(env)),
        }
    }
}
