//! Python-literal lists as FMA writes them in `tracks.csv`: `[]`, `[17, 10, 76]`,
//! `['rock', "it's", 'a\'b']`.

/// Parse a list of integers like `[17, 10, 76]`.
pub fn parse_int_list(s: &str) -> Result<Vec<i64>, String> {
    let inner = brackets(s)?;
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split(',')
        .map(|x| {
            let x = x.trim();
            x.parse::<i64>()
                .map_err(|_| format!("expected an integer in the list, got `{x}`"))
        })
        .collect()
}

/// Parse a list of quoted strings like `['rock', "it's"]`, with Python's backslash escapes.
pub fn parse_str_list(s: &str) -> Result<Vec<String>, String> {
    let inner = brackets(s)?;
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(q) = chars.next() else { break };
        if q != '\'' && q != '"' {
            return Err(format!("expected a quoted string in the list, found `{q}`"));
        }
        let mut item = String::new();
        loop {
            match chars.next() {
                None => return Err("unterminated string in the list".into()),
                Some('\\') => match chars.next() {
                    Some('n') => item.push('\n'),
                    Some('t') => item.push('\t'),
                    Some(c) => item.push(c),
                    None => return Err("dangling backslash in the list".into()),
                },
                Some(c) if c == q => break,
                Some(c) => item.push(c),
            }
        }
        out.push(item);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(c) => return Err(format!("expected `,` between list items, found `{c}`")),
        }
    }
    Ok(out)
}

fn brackets(s: &str) -> Result<&str, String> {
    let t = s.trim();
    t.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| format!("expected a list like `[1, 2]`, got `{t}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(parse_int_list("[]").unwrap(), Vec::<i64>::new());
        assert_eq!(parse_int_list("[17, 10, 76]").unwrap(), vec![17, 10, 76]);
        assert_eq!(parse_int_list(" [21] ").unwrap(), vec![21]);
        assert!(parse_int_list("17, 10").is_err());
        assert!(parse_int_list("[1, x]").unwrap_err().contains("`x`"));
    }

    #[test]
    fn strings() {
        assert_eq!(parse_str_list("[]").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_str_list("['rock', \"it's\", 'a\\'b, c']").unwrap(),
            vec!["rock", "it's", "a'b, c"]
        );
        assert!(parse_str_list("['open").is_err());
        assert!(parse_str_list("[rock]").is_err());
    }
}
