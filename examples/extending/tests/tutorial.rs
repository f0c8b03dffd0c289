//! `docs/EXTENDING.md` against the code it shows, so that a reader can copy its blocks and
//! get code that compiles.
//!
//! Every `rust` and `toml` block names its file on the line just before it, a line ending in
//! `` `path`: `` (a fragment) or `` `path` (whole file): ``. The rules:
//!
//! - a **whole file** block is the file, line for line, nothing added or left out;
//! - a `toml` block is always a whole file;
//! - a **fragment** is a run of complete top-level items of its file, shown line for line:
//!   no elided lines, its first and last lines unindented, its brackets balanced (so no
//!   `impl X {` left open, no method without its `impl`). The fragments of one file come in
//!   the file's order. Unless the file is also shown whole, what a fragment needs from its
//!   own file is shown by then: every `use` of the file, and every top-level item of the
//!   file (a struct, a function, a `mod`) whose name its code mentions, lie in this fragment
//!   or an earlier one of the same file;
//! - every file of the crate's `src/` is shown in full: whole, or by fragments with only
//!   blank lines between them, so that the fragments of a file, copied in order with a blank
//!   line between them, are the file.
//!
//! The output of `cargo run --release --example custom_layer` pasted in section 7 is checked
//! for its format only (the numbers change with the training code): every line the program
//! prints without a placeholder is there, and every row of the table has the header's width.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    let full = repo_root().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()))
}

/// A fenced code block of the tutorial.
struct Block {
    /// The 1-based line of the opening fence.
    line: usize,
    /// The info string's language (`rust`, `toml`, `text`, ...).
    language: String,
    /// The line before the opening fence.
    caption: String,
    body: Vec<String>,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines().enumerate();
    let mut previous = "";
    while let Some((i, line)) = lines.next() {
        if let Some(info) = line.strip_prefix("```") {
            let language = info.split([',', ' ']).next().unwrap_or("").to_string();
            let body = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| !l.starts_with("```"))
                .map(str::to_string)
                .collect();
            blocks.push(Block {
                line: i + 1,
                language,
                caption: previous.to_string(),
                body,
            });
        }
        previous = line;
    }
    blocks
}

/// What a caption names: the file's path, and whether the block is the whole file.
#[derive(Debug, PartialEq)]
struct Caption<'a> {
    path: &'a str,
    whole: bool,
}

/// The caption `` `path`: `` or `` `path` (whole file): ``, or `None`.
fn caption(line: &str) -> Option<Caption<'_>> {
    let line = line.trim_end().strip_suffix(':')?;
    let (line, whole) = match line.strip_suffix(" (whole file)") {
        Some(rest) => (rest, true),
        None => (line, false),
    };
    let inner = line.strip_suffix('`')?;
    let path = &inner[inner.rfind('`')? + 1..];
    (!path.is_empty()).then_some(Caption { path, whole })
}

/// Rust source with comments and the contents of string and character literals removed
/// (each literal becomes `""` or `' '`); lifetimes are kept. Line breaks are kept.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' || (c == 'r' && matches!(next, Some('"' | '#'))) {
            // A string, raw (`r"..."`, `r#"..."#`) or not.
            let raw = c == 'r';
            let mut hashes = 0;
            if raw {
                i += 1;
                while chars.get(i) == Some(&'#') {
                    hashes += 1;
                    i += 1;
                }
                if chars.get(i) != Some(&'"') {
                    // An identifier starting with `r`, not a raw string.
                    out.push('r');
                    out.extend(std::iter::repeat_n('#', hashes));
                    continue;
                }
            }
            i += 1;
            loop {
                match chars.get(i) {
                    None => break,
                    Some('\\') if !raw => i += 2,
                    Some('"') => {
                        let closes = (1..=hashes).all(|k| chars.get(i + k) == Some(&'#'));
                        if closes {
                            i += 1 + hashes;
                            break;
                        }
                        i += 1;
                    }
                    Some('\n') => {
                        out.push('\n');
                        i += 1;
                    }
                    Some(_) => i += 1,
                }
            }
            out.push_str("\"\"");
        } else if c.is_alphanumeric() || c == '_' {
            // A whole identifier or number, so that the `r` of `bar"` is not a raw string.
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                out.push(chars[i]);
                i += 1;
            }
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}'), or a lifetime ('a, 'static).
            let end = match next {
                Some('\\') => (i + 2..chars.len()).find(|&k| chars[k] == '\''),
                Some(_) if chars.get(i + 2) == Some(&'\'') => Some(i + 2),
                _ => None,
            };
            match end {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether the lines form complete items: brackets balanced and never closed before they
/// open, first and last lines unindented and not blank.
fn complete_items(lines: &[String]) -> Result<(), String> {
    let (first, last) = match (lines.first(), lines.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err("the block is empty".into()),
    };
    for (which, line) in [("first", first), ("last", last)] {
        if line.trim().is_empty() || line.starts_with(char::is_whitespace) {
            return Err(format!(
                "its {which} line is blank or indented, so it is not a whole item: {line:?}"
            ));
        }
    }
    let mut open = Vec::new();
    for (n, line) in code_only(&lines.join("\n")).lines().enumerate() {
        for c in line.chars() {
            match c {
                '{' | '(' | '[' => open.push(c),
                '}' | ')' | ']' => {
                    let expected = match c {
                        '}' => '{',
                        ')' => '(',
                        _ => '[',
                    };
                    if open.pop() != Some(expected) {
                        return Err(format!(
                            "line {} of the block closes a {c} that it did not open",
                            n + 1
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    match open.last() {
        None => Ok(()),
        Some(c) => Err(format!("a {c} is left open at the end of the block")),
    }
}

/// The first line, at or after `from`, where `excerpt` appears in `file` line for line.
fn find_run(excerpt: &[String], file: &[&str], from: usize) -> Option<usize> {
    (from..=file.len().saturating_sub(excerpt.len()))
        .find(|&start| excerpt.iter().zip(&file[start..]).all(|(a, b)| a == b))
}

/// The top-level items of a Rust file: each `use` as a range of lines, and each named item
/// (struct, enum, fn, mod, trait, type, const, static) with the line that names it.
struct Items {
    uses: Vec<std::ops::Range<usize>>,
    names: HashMap<String, usize>,
}

fn items(file: &[&str]) -> Items {
    let mut uses = Vec::new();
    let mut names = HashMap::new();
    let mut i = 0;
    while i < file.len() {
        let line = file[i];
        if line.starts_with(char::is_whitespace) {
            // Inside an item: a method, a field, a local function.
            i += 1;
            continue;
        }
        let unqualified = line
            .strip_prefix("pub(crate) ")
            .or_else(|| line.strip_prefix("pub "))
            .unwrap_or(line);
        if unqualified.starts_with("use ") {
            let start = i;
            while !file[i].trim_end().ends_with(';') {
                i += 1;
            }
            uses.push(start..i + 1);
        } else {
            let mut words = unqualified.split_whitespace();
            let keyword = words.next().unwrap_or("");
            let keyword = match keyword {
                "unsafe" | "async" | "const" if unqualified.contains(" fn ") => {
                    words.find(|&w| w == "fn").unwrap_or("")
                }
                k => k,
            };
            let kinds = [
                "struct", "enum", "fn", "mod", "trait", "type", "const", "static",
            ];
            if kinds.contains(&keyword) {
                if let Some(name) = words.next() {
                    let name: String = name
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    names.insert(name, i);
                }
            }
        }
        i += 1;
    }
    Items { uses, names }
}

/// The identifiers of Rust code that can name a top-level item of its file: comments and
/// literals left out, and so are the names after a `.` (a method or a field) or a `::` (an
/// item of another module, `tapegrad::train`, or an associated one, `Self::new`).
fn identifiers(code: &str) -> BTreeSet<String> {
    let code = code_only(code);
    let mut found = BTreeSet::new();
    let mut at = 0;
    while let Some(offset) = code[at..].find(|c: char| c.is_alphanumeric() || c == '_') {
        let start = at + offset;
        let end = code[start..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(code.len(), |len| start + len);
        let word = &code[start..end];
        let before = code[..start].trim_end();
        let qualified = before.ends_with("::") || before.ends_with('.');
        if !qualified && word.starts_with(|c: char| c.is_alphabetic() || c == '_') {
            found.insert(word.to_string());
        }
        at = end;
    }
    found
}

/// What the blocks of one file have shown so far.
#[derive(Default)]
struct Shown {
    whole: bool,
    /// The line ranges of the fragments, in the order of the tutorial.
    fragments: Vec<std::ops::Range<usize>>,
}

impl Shown {
    fn covers(&self, line: usize) -> bool {
        self.fragments.iter().any(|r| r.contains(&line))
    }
}

/// Checks one fragment of a Rust file against the rules; `shown` holds the fragments of the
/// same file before it, `whole_elsewhere` whether the file is shown whole in the tutorial.
fn check_fragment(
    body: &[String],
    file: &[&str],
    shown: &mut Shown,
    whole_elsewhere: bool,
) -> Result<(), String> {
    if let Some(l) = body.iter().find(|l| matches!(l.trim(), "// ..." | "# ...")) {
        return Err(format!("an elided line ({l:?}): show whole items instead"));
    }
    complete_items(body)?;
    let from = shown.fragments.last().map_or(0, |r| r.end);
    let start = find_run(body, file, from).ok_or_else(|| {
        if find_run(body, file, 0).is_some() {
            "the block comes before an earlier block of its file: keep the file's order".into()
        } else {
            format!("these lines are not in the file:\n{}", body.join("\n"))
        }
    })?;
    shown.fragments.push(start..start + body.len());
    if whole_elsewhere {
        return Ok(());
    }
    let items = items(file);
    for uses in &items.uses {
        if let Some(line) = uses.clone().find(|&l| !shown.covers(l)) {
            return Err(format!(
                "the file's `use` on its line {} is not shown in this block or before it",
                line + 1
            ));
        }
    }
    for name in identifiers(&body.join("\n")) {
        if let Some(&line) = items.names.get(&name) {
            if !shown.covers(line) {
                return Err(format!(
                    "it uses `{name}`, defined on line {} of the file, which is not shown in this block or before it",
                    line + 1
                ));
            }
        }
    }
    Ok(())
}

/// The files of the example crate's `src/`, relative to the repository's root.
fn crate_sources() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = repo_root();
    let mut files = Vec::new();
    walk(&root.join("examples/extending/src"), &mut files);
    let mut names: Vec<String> = files
        .iter()
        .map(|f| {
            let relative = f.strip_prefix(&root).unwrap();
            relative.to_string_lossy().replace('\\', "/")
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_rust_and_toml_block_is_a_whole_file_or_whole_items_with_their_context() {
    let markdown = read("docs/EXTENDING.md");
    let blocks = blocks(&markdown);
    let code: Vec<(&Block, Caption)> = blocks
        .iter()
        .filter(|b| matches!(b.language.as_str(), "rust" | "toml"))
        .map(|b| {
            let c = caption(&b.caption).unwrap_or_else(|| {
                panic!(
                    "docs/EXTENDING.md:{}: the line before a {} block must end in `path`: or `path` (whole file): naming its file",
                    b.line, b.language
                )
            });
            (b, c)
        })
        .collect();
    let whole_files: BTreeSet<&str> = code
        .iter()
        .filter(|(_, c)| c.whole)
        .map(|(_, c)| c.path)
        .collect();
    let mut shown: HashMap<&str, Shown> = HashMap::new();
    for (block, caption) in &code {
        let at = format!("docs/EXTENDING.md:{}, {}", block.line, caption.path);
        let text = read(caption.path);
        let file: Vec<&str> = text.lines().collect();
        let entry = shown.entry(caption.path).or_default();
        if caption.whole {
            assert!(
                block.body == file,
                "{at}: the block is not the whole file, line for line: copy the file into it again"
            );
            entry.whole = true;
        } else {
            assert_eq!(
                block.language, "rust",
                "{at}: a {} block must be a whole file",
                block.language
            );
            let whole_elsewhere = whole_files.contains(caption.path);
            check_fragment(&block.body, &file, entry, whole_elsewhere)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
        }
    }
    assert!(
        code.len() >= 20,
        "only {} blocks checked: is the tutorial there?",
        code.len()
    );
    for path in crate_sources()
        .iter()
        .map(String::as_str)
        .chain(["examples/extending/Cargo.toml"])
    {
        let s = shown
            .get(path)
            .unwrap_or_else(|| panic!("docs/EXTENDING.md never shows {path}"));
        if s.whole {
            continue;
        }
        let text = read(path);
        let missing = text
            .lines()
            .enumerate()
            .find(|&(i, line)| !line.trim().is_empty() && !s.covers(i));
        if let Some((i, line)) = missing {
            panic!(
                "docs/EXTENDING.md shows {path} in fragments but leaves out its line {}: {line:?}",
                i + 1
            );
        }
    }
}

#[test]
fn the_output_of_custom_layer_has_the_format_the_program_prints() {
    let markdown = read("docs/EXTENDING.md");
    let command = "$ cargo run --release --example custom_layer";
    let output = blocks(&markdown)
        .into_iter()
        .find(|b| b.body.first().map(String::as_str) == Some(command))
        .unwrap_or_else(|| panic!("no block of docs/EXTENDING.md starts with {command:?}"));
    // The lines the program prints verbatim: `println!("...")` without a placeholder.
    let source = read("examples/custom_layer.rs");
    let fixed: Vec<String> = source
        .split("println!(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once("\");").map(|(literal, _)| literal))
        .filter(|literal| !literal.contains(['{', '"']))
        .map(|literal| literal.trim_start_matches("\\n").to_string())
        .collect();
    let header = fixed
        .iter()
        .find(|l| l.starts_with("batch ") && l.contains("test acc"))
        .expect("examples/custom_layer.rs prints the table's header verbatim");
    for line in &fixed {
        assert!(
            output.body.contains(line),
            "docs/EXTENDING.md:{}: the program prints {line:?}, the pasted output lacks it: run `{}` and paste its output again",
            output.line,
            &command[2..]
        );
    }
    let at = output.body.iter().position(|l| l == header).unwrap();
    let rows: Vec<&String> = output.body[at + 1..]
        .iter()
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert!(!rows.is_empty(), "the table has no rows");
    for row in rows {
        assert_eq!(
            row.len(),
            header.len(),
            "docs/EXTENDING.md:{}: the row {row:?} is not as wide as the header: paste the program's output again",
            output.line
        );
    }
}

fn lines(s: &[&str]) -> Vec<String> {
    s.iter().map(|l| l.to_string()).collect()
}

#[test]
fn captions_name_a_file_and_say_whether_it_is_whole() {
    let c = |path, whole| Some(Caption { path, whole });
    assert_eq!(caption("`src/lib.rs`:"), c("src/lib.rs", false));
    assert_eq!(
        caption("From `src/lib.rs` (whole file):"),
        c("src/lib.rs", true)
    );
    assert_eq!(caption("no path here:"), None);
    assert_eq!(caption("`src/lib.rs`"), None);
}

#[test]
fn a_fragment_must_be_whole_items() {
    let ok = lines(&[
        "impl A {",
        "    fn f() -> &'static str {",
        "        \"}\"",
        "    }",
        "}",
    ]);
    assert_eq!(complete_items(&ok), Ok(()));
    let open = lines(&["impl A {", "    fn f() {}", "// the end of the block"]);
    assert!(complete_items(&open).unwrap_err().contains("left open"));
    let method = lines(&["    fn f() {}"]);
    assert!(complete_items(&method).unwrap_err().contains("indented"));
    let closes = lines(&["fn f() {}", "}"]);
    assert!(complete_items(&closes).is_err());
    // Brackets in comments, strings and character literals do not count.
    let literals = lines(&[
        "fn f() -> char { // {",
        "    let _ = r#\"(\"#;",
        "    '{'",
        "}",
    ]);
    assert_eq!(complete_items(&literals), Ok(()));
}

#[test]
fn a_fragment_must_come_after_its_context_and_match_its_file() {
    let file = [
        "use a::B;",
        "",
        "struct S;",
        "",
        "fn helper() -> S {",
        "    S",
        "}",
        "",
        "fn main() {",
        "    helper();",
        "}",
    ];
    // In order, each with its context: accepted.
    let mut shown = Shown::default();
    check_fragment(&lines(&file[..3]), &file, &mut shown, false).unwrap();
    check_fragment(&lines(&file[4..7]), &file, &mut shown, false).unwrap();
    check_fragment(&lines(&file[8..]), &file, &mut shown, false).unwrap();

    // `main` without `helper` shown before it.
    let mut shown = Shown::default();
    check_fragment(&lines(&file[..3]), &file, &mut shown, false).unwrap();
    let e = check_fragment(&lines(&file[8..]), &file, &mut shown, false).unwrap_err();
    assert!(e.contains("`helper`"), "{e}");
    // ... which is fine when the file is shown whole elsewhere.
    let mut shown = Shown::default();
    check_fragment(&lines(&file[8..]), &file, &mut shown, true).unwrap();

    // Without the file's `use`.
    let mut shown = Shown::default();
    let e = check_fragment(&lines(&file[2..3]), &file, &mut shown, false).unwrap_err();
    assert!(e.contains("`use`"), "{e}");

    // A changed line, an elision, the wrong order.
    let mut shown = Shown::default();
    let changed = lines(&["use a::B;", "", "struct T;"]);
    let e = check_fragment(&changed, &file, &mut shown, false).unwrap_err();
    assert!(e.contains("not in the file"), "{e}");
    let elided = lines(&["use a::B;", "// ...", "struct S;"]);
    assert!(check_fragment(&elided, &file, &mut Shown::default(), false).is_err());
    let mut shown = Shown::default();
    check_fragment(&lines(&file[8..]), &file, &mut shown, true).unwrap();
    let e = check_fragment(&lines(&file[4..7]), &file, &mut shown, true).unwrap_err();
    assert!(e.contains("order"), "{e}");
}

#[test]
fn identifiers_leave_out_comments_and_literals() {
    let ids = identifiers("fn f() { g(\"h\"); 'i'; x.y(); a::b(); } // j\n/// k\nstruct L<'m>;");
    let expected = ["L", "a", "f", "fn", "g", "m", "struct", "x"];
    assert_eq!(ids, expected.iter().map(|s| s.to_string()).collect());
}
