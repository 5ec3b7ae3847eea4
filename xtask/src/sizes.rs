//! The workspace's size rules, checked by a test: no production `.rs` file over
//! [`MAX_FILE_LINES`] lines and no function over [`MAX_FN_LINES`] (a file's trailing
//! `#[cfg(test)] mod` and everything under `tests/` are tests, not production code).

use std::path::{Path, PathBuf};

/// Longest production file, in lines.
pub const MAX_FILE_LINES: usize = 500;
/// Longest function, in lines from its signature to its closing brace.
pub const MAX_FN_LINES: usize = 100;

/// The production source of `text`: everything before a top-level `#[cfg(test)]` module.
fn production(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let tests = lines.windows(2).position(|pair| {
        pair[0].starts_with("#[cfg(test)]")
            && (pair[1].starts_with("mod ") || pair[1].starts_with("pub mod "))
    });
    lines[..tests.unwrap_or(lines.len())].to_vec()
}

/// The name of the function a line declares, if it does.
fn declared_fn(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.next() {
        match word {
            "fn" => {
                let name = words.next()?;
                return name.split(['(', '<']).next();
            }
            "pub" | "async" | "const" | "unsafe" | "extern" => {}
            w if w.starts_with("pub(") => {}
            _ => return None,
        }
    }
    None
}

/// Braces of `line` outside strings, chars and comments: (opened, closed).
fn braces(line: &str) -> (usize, usize) {
    let code = line.split("//").next().unwrap_or("");
    let (mut open, mut close, mut in_string, mut escaped) = (0, 0, false, false);
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '\'' => {
                // A char literal such as '{' (a lifetime has no closing quote nearby).
                let rest: String = chars.clone().take(3).collect();
                if rest.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            '{' => open += 1,
            '}' => close += 1,
            _ => {}
        }
    }
    (open, close)
}

/// Every function of `lines` with its length: (name, first line, lines).
fn functions<'a>(lines: &[&'a str]) -> Vec<(&'a str, usize, usize)> {
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(name) = declared_fn(line) else {
            continue;
        };
        let mut depth = 0usize;
        let mut opened = false;
        for (offset, line) in lines[start..].iter().enumerate() {
            let (open, close) = braces(line);
            opened |= open > 0;
            depth = (depth + open).saturating_sub(close);
            if !opened && line.trim_end().ends_with(';') {
                break; // a declaration without a body
            }
            if opened && depth == 0 {
                found.push((name, start + 1, offset + 1));
                break;
            }
        }
    }
    found
}

/// What breaks the rules in the `.rs` files under `src/` of `root`'s crates.
pub fn violations(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for top in ["crates", "plugins", "operator", "xtask", "examples"] {
        collect(&root.join(top), &mut files);
    }
    let mut found = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let lines = production(&text);
        let shown = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        if lines.len() > MAX_FILE_LINES {
            found.push(format!("{shown}: {} lines", lines.len()));
        }
        for (name, at, length) in functions(&lines) {
            if length > MAX_FN_LINES {
                found.push(format!("{shown}:{at}: fn {name} is {length} lines"));
            }
        }
    }
    found
}

/// The production `.rs` files below `dir`: under a `src/`, not under `tests/` or `target/`.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if !matches!(name.to_str(), Some("tests" | "target" | "benches")) {
                collect(&path, files);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.components().any(|c| c.as_os_str() == "src")
        {
            files.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_production_file_or_function_is_too_long() {
        let found = violations(&crate::workspace_root());
        assert!(found.is_empty(), "too long:\n{}", found.join("\n"));
    }

    #[test]
    fn a_long_function_and_a_test_module_are_told_apart() {
        let body = "    let x = '{';\n".repeat(MAX_FN_LINES);
        let text = format!(
            "pub async fn long() {{\n{body}}}\nfn short() -> &'static str {{ \"}}\" }}\n#[cfg(test)]\nmod tests {{\n{}}}\n",
            "fn t() {}\n".repeat(600)
        );
        let lines = production(&text);
        assert_eq!(
            lines.len(),
            MAX_FN_LINES + 3,
            "the test module is not production code"
        );
        let lengths: Vec<(&str, usize)> = functions(&lines)
            .into_iter()
            .map(|(n, _, l)| (n, l))
            .collect();
        assert_eq!(lengths, vec![("long", MAX_FN_LINES + 2), ("short", 1)]);
    }
}
