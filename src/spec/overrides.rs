//! Changing a spec by dotted key, as sweep axes and command-line overrides do: `seed`,
//! `split.strategy`, `factors.mfcc.topics` (a `[[factors]]` entry by its name),
//! `cnn.blocks.0.channels` (an entry of an unnamed array by position).
//!
//! Overrides are applied to the spec's TOML before it is parsed, so a value of the wrong
//! kind or a key that does not exist is refused by the same checks as a spec file's.

use toml::{Table, Value};

/// Why an override cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OverrideError {
    #[error("`{key}`: no [[{array}]] entry is named `{name}` (names: {known})")]
    NoEntry {
        key: String,
        array: String,
        name: String,
        known: String,
    },
    #[error("`{key}`: `{segment}` is a value, not a table, so nothing can be set inside it")]
    NotTable { key: String, segment: String },
    #[error("`{given}`: expected key=value (e.g. `split.strategy=artist` or `seed=1,2,3`)")]
    Syntax { given: String },
}

/// Set `key` (dotted) to `value` in `table`, creating tables on the way as needed.
pub fn set(table: &mut Table, key: &str, value: Value) -> Result<(), OverrideError> {
    let segments: Vec<&str> = key.split('.').collect();
    let mut current = table;
    let mut i = 0;
    while i + 1 < segments.len() {
        let seg = segments[i];
        let entry = current
            .entry(seg.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        current = match entry {
            Value::Table(t) => t,
            Value::Array(items) if items.iter().all(Value::is_table) => {
                // An array of tables: the next segment names an entry (or numbers it).
                i += 1;
                let name = segments[i];
                let known: Vec<String> = items
                    .iter()
                    .filter_map(|t| t.get("name").and_then(Value::as_str).map(String::from))
                    .collect();
                let at = items
                    .iter()
                    .position(|t| t.get("name").and_then(Value::as_str) == Some(name))
                    .or_else(|| name.parse::<usize>().ok().filter(|n| *n < items.len()));
                match at {
                    Some(n) => match &mut items[n] {
                        Value::Table(t) => t,
                        _ => unreachable!("every item is a table"),
                    },
                    None => {
                        return Err(OverrideError::NoEntry {
                            key: key.to_string(),
                            array: seg.to_string(),
                            name: name.to_string(),
                            known: if known.is_empty() {
                                "none".into()
                            } else {
                                known.join(", ")
                            },
                        })
                    }
                }
            }
            _ => {
                return Err(OverrideError::NotTable {
                    key: key.to_string(),
                    segment: seg.to_string(),
                })
            }
        };
        i += 1;
    }
    current.insert(segments[segments.len() - 1].to_string(), value);
    Ok(())
}

/// A value as typed on a command line: TOML where it parses (`3`, `0.5`, `true`,
/// `["genre", "mfcc"]`, `"artist"`), else the bare word as a string (`artist`).
pub fn value(text: &str) -> Value {
    let text = text.trim();
    toml::from_str::<Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(text.to_string()))
}

/// `key=value` or `key=a,b,c` (a comma list at the top level, outside brackets and quotes,
/// is several values: an axis).
pub fn assignment(given: &str) -> Result<(String, Vec<Value>), OverrideError> {
    let syntax = || OverrideError::Syntax {
        given: given.to_string(),
    };
    let (key, rhs) = given.split_once('=').ok_or_else(syntax)?;
    let key = key.trim();
    if key.is_empty() || rhs.trim().is_empty() {
        return Err(syntax());
    }
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
    for (i, c) in rhs.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('[' | '{', None) => depth += 1,
            (']' | '}', None) => depth -= 1,
            (',', None) if depth == 0 => {
                parts.push(&rhs[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&rhs[start..]);
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err(syntax());
    }
    Ok((key.to_string(), parts.into_iter().map(value).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn keys_reach_sections_named_entries_and_new_tables() {
        let mut t = table(
            "seed = 1\n[split]\nstrategy = \"artist\"\n[[factors]]\nname = \"mfcc\"\ntopics = 4\n[[factors]]\nname = \"tags\"\n",
        );
        set(&mut t, "seed", Value::Integer(2)).unwrap();
        set(&mut t, "split.strategy", value("random")).unwrap();
        set(&mut t, "factors.tags.topics", Value::Integer(9)).unwrap();
        set(&mut t, "factors.mfcc.kmeans.batch_size", Value::Integer(64)).unwrap();
        set(&mut t, "noise.rate", Value::Float(0.1)).unwrap();
        assert_eq!(t["seed"], Value::Integer(2));
        assert_eq!(t["split"]["strategy"], Value::String("random".into()));
        assert_eq!(t["factors"][1]["topics"], Value::Integer(9));
        assert_eq!(t["factors"][0]["kmeans"]["batch_size"], Value::Integer(64));
        assert_eq!(t["noise"]["rate"], Value::Float(0.1));
        let err = set(&mut t, "factors.mfc.topics", Value::Integer(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`factors.mfc.topics`: no [[factors]] entry is named `mfc` (names: mfcc, tags)"
        );
        assert!(matches!(
            set(&mut t, "seed.x", Value::Integer(1)),
            Err(OverrideError::NotTable { .. })
        ));
    }

    #[test]
    fn command_line_values_and_lists() {
        assert_eq!(
            assignment("seed=1,2,3").unwrap(),
            (
                "seed".into(),
                vec![Value::Integer(1), Value::Integer(2), Value::Integer(3)]
            )
        );
        assert_eq!(
            assignment("split.strategy=artist").unwrap().1,
            vec![Value::String("artist".into())]
        );
        let (_, v) = assignment(r#"cnn.targets=["genre","mfcc"],["genre"]"#).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].as_array().unwrap().len(), 2);
        assert_eq!(
            assignment("noise.rate=0.1").unwrap().1,
            vec![Value::Float(0.1)]
        );
        assert!(assignment("seed").is_err());
        assert!(assignment("seed=1,,2").is_err());
    }
}
