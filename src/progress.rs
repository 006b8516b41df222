//! Progress bars for long work. indicatif hides them by itself when stderr is not a
//! terminal (CI, pipes), so logs stay clean there.

use indicatif::{ProgressBar, ProgressStyle};

pub fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}
