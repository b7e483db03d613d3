//! `;name[=value]` parameters of URIs and headers. Names compare case-insensitively.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<Param>);

impl Params {
    pub fn push(&mut self, name: &str, value: Option<&str>) {
        self.0.push(Param {
            name: name.to_string(),
            value: value.map(str::to_string),
        });
    }

    /// `None`: absent; `Some(None)`: present without a value.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets (or adds) a parameter.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        match self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(p) => p.value = value.map(str::to_string),
            None => self.push(name, value),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }

    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Params {
    /// `;name=value` each, values as stored (quoted ones keep their quotes).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.0 {
            write!(f, ";{}", p.name)?;
            if let Some(v) = &p.value {
                write!(f, "={v}")?;
            }
        }
        Ok(())
    }
}
