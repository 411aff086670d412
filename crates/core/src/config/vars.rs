//! Configuration variables and `${VAR}` substitution, shared by both
//! front ends.
//!
//! A variable comes from `@SET KEY=VALUE` (classic) or the `env:` map
//! (YAML), and otherwise from the process environment. Substitution runs on
//! keys and values as each line is read, so a variable must be set before
//! the line that uses it, as in Fluent Bit.

use std::collections::HashMap;

use super::Origin;

/// The variables defined so far while loading one configuration, includes
/// and all.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    defined: HashMap<String, String>,
}

impl Vars {
    /// Defines (or redefines) a variable; it wins over the environment.
    pub(crate) fn set(&mut self, name: &str, value: String) {
        self.defined.insert(name.to_string(), value);
    }

    /// The value of a variable: a defined one first, then the environment.
    fn get(&self, name: &str) -> Option<String> {
        self.defined
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    }

    /// Replaces every `${NAME}` and `${NAME:-default}` in `text`.
    ///
    /// An unset variable without a default becomes the empty string, as
    /// Fluent Bit does, with a warning naming the line. A `${` without its
    /// closing brace is kept as written.
    pub(crate) fn substitute(&self, text: &str, origin: &Origin) -> String {
        if !text.contains("${") {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            out.push_str(&self.expand(&after[..end], origin));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The replacement for the inside of one `${...}`.
    fn expand(&self, inner: &str, origin: &Origin) -> String {
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let value = self.get(name.trim());
        match (value, default) {
            (Some(v), Some(d)) if v.is_empty() => d.to_string(),
            (Some(v), _) => v,
            (None, Some(d)) => d.to_string(),
            (None, None) => {
                tracing::warn!(
                    file = %origin.file,
                    line = origin.line,
                    variable = name,
                    "configuration variable is not set; using an empty string"
                );
                String::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin::new("test.conf", 3)
    }

    #[test]
    fn defined_variables_replace_references() {
        let mut vars = Vars::default();
        vars.set("HOST", "example.org".into());
        vars.set("PORT", "24224".into());
        let out = vars.substitute("${HOST}:${PORT}/x", &origin());
        assert_eq!(out, "example.org:24224/x");
    }

    #[test]
    fn defined_variables_win_over_the_environment() {
        std::env::set_var("SLUICE_VARS_TEST_OVERRIDE", "from-env");
        let mut vars = Vars::default();
        assert_eq!(
            vars.substitute("${SLUICE_VARS_TEST_OVERRIDE}", &origin()),
            "from-env"
        );
        vars.set("SLUICE_VARS_TEST_OVERRIDE", "from-set".into());
        assert_eq!(
            vars.substitute("${SLUICE_VARS_TEST_OVERRIDE}", &origin()),
            "from-set"
        );
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let mut vars = Vars::default();
        vars.set("EMPTY", String::new());
        vars.set("FULL", "yes".into());
        let text = "${SLUICE_VARS_TEST_UNSET:-a} ${EMPTY:-b} ${FULL:-c}";
        assert_eq!(vars.substitute(text, &origin()), "a b yes");
    }

    #[test]
    fn unset_variables_become_empty() {
        let vars = Vars::default();
        let out = vars.substitute("[${SLUICE_VARS_TEST_UNSET}]", &origin());
        assert_eq!(out, "[]");
    }

    #[test]
    fn unterminated_references_are_kept() {
        let vars = Vars::default();
        assert_eq!(vars.substitute("a ${B c", &origin()), "a ${B c");
        assert_eq!(vars.substitute("plain $HOME", &origin()), "plain $HOME");
    }
}
