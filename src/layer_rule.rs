#![cfg(test)]
//! The layer rule, checked: every `crate::`/`super::` path in `src/` (test modules cut off)
//! points from a folder to one of a strictly lower layer in the table of
//! `docs/architecture.md` ("The layers"). A new folder must be given a layer there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Folder (or top-level file) name → layer, read from the table's rows `| N | `a`, `b` | …`.
fn layer_table(doc: &str) -> BTreeMap<String, u32> {
    let section = doc
        .split("\n## The layers")
        .nth(1)
        .expect("docs/architecture.md has a section '## The layers'");
    let mut layers = BTreeMap::new();
    for line in section.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(rank), Some(folders)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let Ok(rank) = rank.parse::<u32>() else {
            continue;
        };
        for name in folders.split(',') {
            let name = name.trim().trim_matches('`').trim_end_matches('/');
            if !name.is_empty() {
                layers.insert(name.to_string(), rank);
            }
        }
    }
    layers
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/` (`http/routes/mod.rs` → `[http, routes]`).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// The code of a file before its test module (or none, for a test-only file), without line
/// comments.
fn code_of(text: &str) -> String {
    let code = match text.find("cfg(test)]") {
        Some(cut) => &text[..text[..cut].rfind('#').unwrap_or(cut)],
        None => text,
    };
    code.lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path a file names through `crate::` or `super::`, resolved from the crate root;
/// `use a::{b, c::{d}}` groups are expanded.
fn paths_in(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let starts = [b"crate::", b"super::"]
            .iter()
            .any(|p| bytes[i..].starts_with(*p))
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
        if !starts {
            i += 1;
            continue;
        }
        // An ASCII match, so `i` is on a character boundary.
        let (len, mut found) = read_path(&code[i..]);
        for path in found.drain(..) {
            out.push(resolve(module, path));
        }
        i += len.max(1);
    }
    out
}

/// Reads `a::b::{c, d::e}` from the start of `text`: its length and the paths it names.
fn read_path(text: &str) -> (usize, Vec<Vec<String>>) {
    let mut segments = Vec::new();
    let mut i = 0;
    let bytes = text.as_bytes();
    loop {
        let start = i;
        while i < text.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i > start {
            segments.push(text[start..i].to_string());
        }
        if text[i..].starts_with("::{") {
            let open = i + 2;
            let close = matching_brace(text, open);
            let mut paths = Vec::new();
            for item in split_top_level(&text[open + 1..close]) {
                let (_, inner) = read_path(item.trim());
                for p in inner {
                    paths.push(segments.iter().cloned().chain(p).collect());
                }
            }
            return (close + 1, paths);
        }
        if text[i..].starts_with("::") {
            i += 2;
            continue;
        }
        return (i, vec![segments]);
    }
}

fn matching_brace(text: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    text.len() - 1
}

fn split_top_level(body: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&body[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

fn resolve(module: &[String], path: Vec<String>) -> Vec<String> {
    let mut base: Vec<String> = module.to_vec();
    let mut rest = path.as_slice();
    if rest.first().is_some_and(|s| s == "crate") {
        base.clear();
        rest = &rest[1..];
    }
    while let Some(first) = rest.first() {
        match first.as_str() {
            "super" => {
                base.pop();
            }
            "self" => {}
            _ => break,
        }
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    base
}

/// Each arrow against the table, as `from/file.rs -> folder`.
fn violations(src: &Path, layers: &BTreeMap<String, u32>) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).expect("under src");
        let module = module_of(rel);
        let Some(from) = module.first() else {
            continue; // lib.rs and main.rs only declare and start the layers
        };
        let code = code_of(&std::fs::read_to_string(&file).expect("readable source"));
        if code.trim().is_empty() {
            continue; // a test-only file
        }
        let from_layer = *layers
            .get(from)
            .unwrap_or_else(|| panic!("`{from}` has no layer in docs/architecture.md"));
        for path in paths_in(&module, &code) {
            let Some(to) = path.first().filter(|to| *to != from) else {
                continue;
            };
            let Some(&to_layer) = layers.get(to) else {
                continue; // not a module of ours (a macro or a re-export at the root)
            };
            if to_layer >= from_layer {
                found.push(format!(
                    "{} -> {to} ({from} is layer {from_layer}, {to} layer {to_layer})",
                    rel.display()
                ));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn every_import_points_to_a_lower_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).expect("the doc");
    let layers = layer_table(&doc);
    assert!(layers.len() >= 10, "layer table read: {layers:?}");
    let found = violations(&root.join("src"), &layers);
    assert!(
        found.is_empty(),
        "imports against the layer table:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checker_sees_upward_and_grouped_imports() {
    let layers: BTreeMap<String, u32> = [("low", 1), ("high", 2)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let dir = std::env::temp_dir().join(format!("layer-rule-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(dir.join("low")).unwrap();
    std::fs::write(dir.join("high.rs"), "use crate::low::{a, b::{c}};\n").unwrap();
    std::fs::write(
        dir.join("low/mod.rs"),
        "use super::high::X; // up\n#[cfg(test)]\nmod t { use crate::high::Y; }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("low/leaf.rs"),
        "fn f() { super::super::high::g(); }\n",
    )
    .unwrap();
    let found = violations(&dir, &layers);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("low/leaf.rs -> high"), "{found:?}");
    assert!(found[1].starts_with("low/mod.rs -> high"), "{found:?}");
}
