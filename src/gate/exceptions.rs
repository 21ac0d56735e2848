//! Documented exceptions: exact values a check would reject that are known to be right (a code
//! newer than the shipped value set) or known not to be ours to fix (ANS's fictitious example
//! identifiers). Shipped in datasets/gate/exceptions.toml; `[gate] exceptions` replaces the file.
//!
//! An exception matches one check, one table, one column and one exact value, so it cannot hide
//! a different problem; the report lists every exception used, with the rows it covered, and every
//! one that matched nothing, so stale lines get noticed and removed.

use serde::{Deserialize, Serialize};

use super::config::GateConfig;
use super::{checks, GateError};

/// The shipped exceptions.
pub const SHIPPED: &str = include_str!("../../datasets/gate/exceptions.toml");
const SHIPPED_ORIGIN: &str = "datasets/gate/exceptions.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub check: String,
    pub table: String,
    pub column: String,
    pub value: String,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExceptionsFile {
    #[serde(default)]
    exceptions: Vec<Exception>,
}

/// The exceptions in force for one gate run.
#[derive(Debug, Clone)]
pub struct Exceptions {
    pub origin: String,
    pub list: Vec<Exception>,
}

impl Exceptions {
    /// The file the configuration names, or the shipped one.
    pub fn load(config: &GateConfig) -> Result<Exceptions, GateError> {
        match &config.exceptions {
            Some(path) => {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| GateError::Exceptions { origin: origin.clone(), message: format!("cannot read: {e}") })?;
                Exceptions::parse(&text, &origin)
            }
            None => Exceptions::parse(SHIPPED, SHIPPED_ORIGIN),
        }
    }

    /// Parse and check an exceptions file: known checks, a reason for every line, no duplicates.
    pub fn parse(text: &str, origin: &str) -> Result<Exceptions, GateError> {
        let error = |message: String| GateError::Exceptions { origin: origin.to_owned(), message };
        let file: ExceptionsFile = toml::from_str(text).map_err(|e| error(e.to_string()))?;
        for (i, e) in file.exceptions.iter().enumerate() {
            let at = format!("exception {} ({}.{} = {:?})", i + 1, e.table, e.column, e.value);
            if checks::find(&e.check).is_none() {
                return Err(error(format!("{at}: no check named {:?}", e.check)));
            }
            if e.reason.trim().is_empty() {
                return Err(error(format!("{at}: says no reason; every exception must say why")));
            }
            if file.exceptions[..i].iter().any(|o| o.check == e.check && o.table == e.table && o.column == e.column && o.value == e.value) {
                return Err(error(format!("{at}: listed twice")));
            }
        }
        Ok(Exceptions { origin: origin.to_owned(), list: file.exceptions })
    }

    /// No exceptions at all.
    pub fn none() -> Exceptions {
        Exceptions { origin: "none".to_owned(), list: Vec::new() }
    }

    /// The index of the exception accepting this value, if any.
    pub fn find(&self, check: &str, table: &str, column: &str, value: &str) -> Option<usize> {
        self.list.iter().position(|e| e.check == check && e.table == table && e.column == column && e.value == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_parses_and_every_line_says_why() {
        let shipped = Exceptions::parse(SHIPPED, SHIPPED_ORIGIN).unwrap();
        assert!(!shipped.list.is_empty());
        assert!(shipped.find("codes", "offres", "type_offre_code", "157").is_some());
        assert!(shipped.find("codes", "offres", "type_offre_code", "158").is_none());
        assert!(shipped.find("siren", "entites_juridiques", "siret", "921317258").is_none());
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        let line = |check: &str, reason: &str| format!("[[exceptions]]\ncheck = \"{check}\"\ntable = \"t\"\ncolumn = \"c\"\nvalue = \"v\"\nreason = \"{reason}\"\n");
        let e = Exceptions::parse(&line("sirne", "x"), "f.toml").unwrap_err().to_string();
        assert!(e.contains("f.toml") && e.contains("exception 1 (t.c = \"v\"): no check named \"sirne\""), "{e}");
        let e = Exceptions::parse(&line("siren", " "), "f.toml").unwrap_err().to_string();
        assert!(e.contains("every exception must say why"), "{e}");
        let twice = line("siren", "x") + &line("siren", "y");
        assert!(Exceptions::parse(&twice, "f.toml").unwrap_err().to_string().contains("exception 2 (t.c = \"v\"): listed twice"));
        assert!(Exceptions::parse("[[exceptions]]\ncheck = \"siren\"\n", "f.toml").is_err());
    }
}
