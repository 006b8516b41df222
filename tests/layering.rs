//! The crate's layering, as `src/lib.rs` states it, checked against the code: every
//! `crate::…` path in a module names a module earlier in the flow, never a later one.

use std::path::{Path, PathBuf};

/// The modules in flow order; a module may use those before it, never those after.
const ORDER: &[&str] = &[
    // Foundations, which know no domain.
    "rng", "simd", "fsutil", "progress", "digest", "errors", "record", "vectors", "cache",
    // Metrics and statistics from probabilities and labels: pure, so every later layer may
    // score.
    "eval", // The flow.
    "spec", "data", "audio", "features", "factors", "nn", "stages", "store", "pipeline", "report",
    "bench",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for the crate root and the
/// binary, which may use anything).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs").to_string();
    (!["lib", "main", "cli"].contains(&name.as_str())).then_some(name)
}

/// Every module a line of code names through `crate::`.
fn uses(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("crate::")
        .filter(|(i, _)| {
            // Not part of a longer path such as `other_crate::`.
            code[..*i]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        })
        .map(|(i, m)| {
            code[i + m.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .filter(|m: &String| !m.is_empty())
        .collect()
}

#[test]
fn every_import_follows_the_flow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    for m in &declared {
        assert!(
            ORDER.contains(m),
            "module `{m}` has no place in the layering: add it to ORDER and to lib.rs's map"
        );
    }
    let rank = |m: &str| ORDER.iter().position(|o| *o == m);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let own = rank(&module).unwrap_or_else(|| panic!("{module} is not in ORDER"));
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for used in uses(line) {
                match rank(&used) {
                    Some(r) if r > own => violations.push(format!(
                        "{}:{}: `{module}` uses `{used}`, which comes after it",
                        file.display(),
                        n + 1
                    )),
                    _ => {}
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_checker_sees_what_it_should() {
    assert_eq!(
        uses("use crate::store::Store; // crate::bench"),
        vec!["store"]
    );
    assert_eq!(
        uses("let x = crate::nn::device(crate::spec::DeviceSpec::Cpu);"),
        vec!["nn", "spec"]
    );
    assert!(uses("use candle_core::Device;").is_empty());
    assert!(uses("my_crate::thing").is_empty());
}
