//! An arm: a sweep cell's axis values without its seed, as the store keeps them (a JSON
//! object; its axes come back ordered by name).

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arm {
    pub pairs: Vec<(String, Value)>,
}

impl Arm {
    /// From the store's JSON text; text that is not an object is one pair under `arm`, so
    /// that nothing read from a store is lost.
    pub fn parse(json: &str) -> Arm {
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(map)) => Arm {
                pairs: map.into_iter().collect(),
            },
            _ => Arm {
                pairs: vec![("arm".into(), Value::String(json.into()))],
            },
        }
    }

    /// `key=value …`, strings unquoted; `(base)` for a sweep without axes.
    pub fn label(&self) -> String {
        if self.pairs.is_empty() {
            return "(base)".into();
        }
        self.pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", value_text(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether every pair of `partial` is one of this arm's.
    pub fn matches(&self, partial: &Arm) -> bool {
        partial.pairs.iter().all(|(k, v)| self.get(k) == Some(v))
    }

    /// This arm with `partial`'s values put in: the arm that `self` is compared with when
    /// `partial` names the baseline (the other axes held where they are).
    pub fn with(&self, partial: &Arm) -> Arm {
        Arm {
            pairs: self
                .pairs
                .iter()
                .map(|(k, v)| (k.clone(), partial.get(k).unwrap_or(v).clone()))
                .collect(),
        }
    }

    /// The arm without `key` (the other axes' levels, for one line per level in a plot).
    pub fn without(&self, key: &str) -> Arm {
        Arm {
            pairs: self
                .pairs
                .iter()
                .filter(|(k, _)| k != key)
                .cloned()
                .collect(),
        }
    }
}

/// A value as people write it on the command line: strings unquoted, the rest as JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_of_an_arm_holds_its_other_axes() {
        let a = Arm::parse(r#"{"noise.rate": 0.2, "split.strategy": "album"}"#);
        assert_eq!(a.label(), "noise.rate=0.2 split.strategy=album");
        let base = Arm::parse(r#"{"noise.rate": 0.0}"#);
        let b = a.with(&base);
        assert_eq!(b.label(), "noise.rate=0.0 split.strategy=album");
        assert!(b.matches(&base) && !a.matches(&base));
        assert_eq!(a.without("noise.rate").label(), "split.strategy=album");
        assert_eq!(Arm::parse("{}").label(), "(base)");
    }
}
