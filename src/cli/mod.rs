//! The command line's two halves: what may be typed ([`args`]) and what is printed
//! ([`print`]). `main.rs` joins them to the library, one call per subcommand.

pub mod args;
pub mod print;
