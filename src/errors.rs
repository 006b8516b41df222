//! An error as one line of text: its message and each of its causes once, joined by `: `.
//! What a failed run stores as its reason and a skipped track gives as why; the binary
//! prints the same through anyhow's `{:#}`.
//!
//! Every error type in agf either quotes its cause in its own message or returns it as its
//! `source()`, never both, so walking the chain repeats nothing. Some libraries' errors do
//! both (sqlx's I/O error quotes the I/O error it returns): a cause that the text so far
//! already ends with is left out.

/// `error: cause: cause …`.
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let said = c.to_string();
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("cannot read x.wav")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn each_cause_once() {
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(super::one_line(&e), "cannot read x.wav: disk on fire");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("error communicating with database: {0}")]
    struct Quoting(#[source] std::io::Error);

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let e = Outer(std::io::Error::other(Quoting(std::io::Error::other(
            "refused",
        ))));
        assert_eq!(
            super::one_line(&e),
            "cannot read x.wav: error communicating with database: refused"
        );
    }
}
