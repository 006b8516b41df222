//! Where things are written in a spec's text: 1-based line and column of a byte offset, a
//! caret snippet under a line, and the line of a dotted key, so that every error names the
//! place a user has to edit.

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

pub(super) fn snippet(text: &str, line: usize, column: usize) -> String {
    let src = text.lines().nth(line - 1).unwrap_or("");
    let gutter = line.to_string();
    format!(
        "{pad} |\n{gutter} | {src}\n{pad} | {caret:>width$}",
        pad = " ".repeat(gutter.len()),
        caret = "^",
        width = column
    )
}

/// Where a dotted key is written in the TOML text: the line and column of `key =` inside its
/// table, or of the table header for a whole section. A best-effort textual scan, good for
/// the ordinary hand-written spec; `None` when the key is absent (a default was used).
pub fn locate_key(text: &str, dotted: &str) -> Option<(usize, usize)> {
    // The key itself, or else the closest enclosing key (an inline table such as
    // `lr_schedule = { … }`) or table header that is written.
    let mut path = dotted;
    loop {
        let (exact, headers) = scan_keys(text, path);
        if let Some(at) = exact.or_else(|| headers.get(path).copied()) {
            return Some(at);
        }
        path = path.rsplit_once('.')?.0;
    }
}

/// A table header line (`[name]` or `[[name]]`): its name, and whether it is an array's
/// entry. A line of a multi-line array that starts with `[` is not one.
pub(super) fn table_header(line: &str) -> Option<(&str, bool)> {
    let t = line.trim();
    let (inner, array) = match t.strip_prefix("[[") {
        Some(rest) => (rest.split_once("]]")?, true),
        None => (t.strip_prefix('[')?.split_once(']')?, false),
    };
    let (name, after) = inner;
    let after = after.trim();
    let is_key = |c: char| c.is_ascii_alphanumeric() || "_-.\" ".contains(c);
    (!name.trim().is_empty()
        && name.chars().all(is_key)
        && (after.is_empty() || after.starts_with('#')))
    .then_some((name.trim(), array))
}

/// Whether `dotted` is written in `text` as a `key = value` line.
pub(super) fn key_written(text: &str, dotted: &str) -> bool {
    scan_keys(text, dotted).0.is_some()
}

type Headers = std::collections::HashMap<String, (usize, usize)>;

/// Where `dotted` is written as `key =`, and where every table header is.
fn scan_keys(text: &str, dotted: &str) -> (Option<(usize, usize)>, Headers) {
    let (table, leaf) = match dotted.rsplit_once('.') {
        Some((t, l)) => (t, l),
        None => ("", dotted),
    };
    let mut current = String::new();
    // Where each table's header is; entries of arrays of tables are `name[i]`.
    let mut headers = Headers::default();
    let mut arrays: std::collections::HashMap<String, usize> = Default::default();
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        let indent = raw.len() - trimmed.len();
        if let Some((name, array)) = table_header(trimmed) {
            current = if array {
                let n = arrays.entry(name.to_string()).or_insert(0);
                *n += 1;
                format!("{name}[{}]", *n - 1)
            } else {
                // `[factors.kmeans]` after `[[factors]]` belongs to the latest entry.
                match name.split_once('.') {
                    Some((head, tail)) if arrays.contains_key(head) => {
                        format!("{head}[{}].{tail}", arrays[head] - 1)
                    }
                    _ => name.to_string(),
                }
            };
            headers
                .entry(current.clone())
                .or_insert((i + 1, indent + 1));
            continue;
        }
        if current == table {
            if let Some((k, _)) = trimmed.split_once('=') {
                if k.trim().trim_matches('"') == leaf {
                    return (Some((i + 1, indent + 1)), headers);
                }
            }
        }
    }
    (None, headers)
}
