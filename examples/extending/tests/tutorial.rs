//! Every Rust and TOML block of `docs/EXTENDING.md` is an excerpt of a file of this
//! repository that is compiled and tested (this crate, or `examples/custom_layer.rs`), named
//! on the line just before the block (a line ending in `` `path`: ``). This test checks that
//! each block still appears, line for line, in its file, so the tutorial cannot drift from
//! code that compiles. A line `// ...` (or `# ...` in TOML) in a block stands for lines left
//! out.

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fenced code block of the tutorial.
struct Block {
    /// The 1-based line of the opening fence.
    line: usize,
    /// The info string's language (`rust`, `toml`, `sh`, ...).
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

/// The path in a caption line ending in `` `path`: ``.
fn caption_path(caption: &str) -> Option<&str> {
    let inner = caption.trim_end().strip_suffix("`:")?;
    Some(&inner[inner.rfind('`')? + 1..])
}

/// Whether `excerpt` appears in `file`: each run of lines between elision markers
/// contiguously, the runs in order.
fn appears_in(excerpt: &[String], file: &[&str]) -> Result<(), String> {
    let mut from = 0;
    let is_elision = |l: &String| matches!(l.trim(), "// ..." | "# ...");
    for run in excerpt.split(is_elision).filter(|run| !run.is_empty()) {
        let found = (from..=file.len().saturating_sub(run.len()))
            .find(|&start| run.iter().zip(&file[start..]).all(|(a, b)| a == b));
        match found {
            Some(start) => from = start + run.len(),
            None => {
                return Err(format!(
                    "this run of lines is not in the file (after line {from}):\n{}",
                    run.join("\n")
                ))
            }
        }
    }
    Ok(())
}

#[test]
fn every_rust_and_toml_block_is_an_excerpt_of_a_compiled_file() {
    let tutorial = repo_root().join("docs/EXTENDING.md");
    let markdown = std::fs::read_to_string(&tutorial)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", tutorial.display()));
    let mut checked = 0;
    for block in blocks(&markdown) {
        if !matches!(block.language.as_str(), "rust" | "toml") {
            continue;
        }
        let at = format!("docs/EXTENDING.md:{}", block.line);
        let path = caption_path(&block.caption).unwrap_or_else(|| {
            panic!(
                "{at}: the line before a {} block must end in `path`: naming its file",
                block.language
            )
        });
        let text = std::fs::read_to_string(repo_root().join(path))
            .unwrap_or_else(|e| panic!("{at}: cannot read {path}: {e}"));
        let file: Vec<&str> = text.lines().collect();
        appears_in(&block.body, &file).unwrap_or_else(|e| panic!("{at}, excerpt of {path}: {e}"));
        checked += 1;
    }
    assert!(
        checked >= 10,
        "only {checked} excerpts checked: is the tutorial there?"
    );
}

#[test]
fn the_excerpt_check_catches_a_changed_line() {
    let file = ["fn a() {", "    1", "}", "fn b() {", "    2", "}"];
    let lines = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(appears_in(&lines(&["fn b() {", "    2"]), &file).is_ok());
    assert!(appears_in(&lines(&["fn a() {", "    // ...", "}", "fn b() {"]), &file).is_ok());
    assert!(appears_in(&lines(&["fn b() {", "    3"]), &file).is_err());
    assert!(
        appears_in(&lines(&["fn b() {", "// ...", "fn a() {"]), &file).is_err(),
        "order matters"
    );
    assert_eq!(caption_path("From `src/lib.rs`:"), Some("src/lib.rs"));
    assert_eq!(caption_path("no path here"), None);
}
