//! The crate's layering, as `src/lib.rs` states it, checked against the code: every
//! `crate::…` path in a module names a module earlier in the flow, never a later one.

use std::path::{Path, PathBuf};

/// The modules in flow order; a module may use those before it, never those after.
#[rustfmt::skip]
const ORDER: &[&str] = &[
    // Foundations, which know no domain.
    "rng", "simd", "fsutil", "progress", "digest", "errors", "record", "vectors", "cache",
    // Metrics and statistics from probabilities and labels: pure, so every later layer may
    // score.
    "eval",
    // The label-noise audit's arithmetic, from probabilities and labels: pure.
    "audit",
    // The flow.
    "spec", "data", "audio", "features", "factors", "nn", "stages", "store", "pipeline",
    "sweep", "compare", "report", "bench",
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

/// Every module a file's code names through `crate::`, with its line: `crate::a::…` and
/// each top-level item of a group `crate::{a, b::c, …}`, even one that spans lines.
fn uses(text: &str) -> Vec<(usize, String)> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, m) in code.match_indices("crate::") {
        // Not part of a longer path such as `other_crate::`.
        if code[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let line = code[..i].matches('\n').count() + 1;
        let rest = &code[i + m.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = 0;
            for (k, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push((line, ident(&group[item_start..k])));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push((line, ident(&group[item_start..k])));
                        item_start = k + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push((line, ident(rest)));
        }
    }
    out.retain(|(_, m)| !m.is_empty());
    out
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
        for (line, used) in uses(&text) {
            if rank(&used).is_some_and(|r| r > own) {
                violations.push(format!(
                    "{}:{line}: `{module}` uses `{used}`, which comes after it",
                    file.display()
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_checker_sees_what_it_should() {
    let names = |text: &str| -> Vec<String> { uses(text).into_iter().map(|u| u.1).collect() };
    assert_eq!(names("use crate::store::Store; // crate::bench"), ["store"]);
    assert_eq!(
        names("let x = crate::nn::device(crate::spec::DeviceSpec::Cpu);"),
        ["nn", "spec"]
    );
    assert_eq!(
        uses("use std::io;\nuse crate::{\n    data::Track,\n    stages::{a, b},\n    record,\n};"),
        [
            (2, "data".to_string()),
            (2, "stages".to_string()),
            (2, "record".to_string())
        ]
    );
    assert!(names("use candle_core::Device;").is_empty());
    assert!(names("my_crate::thing").is_empty());
}
