//! An error as one line of text: its message and each of its causes once, joined by `: `.
//! What a failed run stores as its reason and a skipped track gives as why; the binary
//! prints the same through anyhow's `{:#}`.
//!
//! Every error type in agf either quotes its cause in its own message or returns it as its
//! `source()`, never both, so walking the chain repeats nothing.

/// `error: cause: cause …`.
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
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
}
