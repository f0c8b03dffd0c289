//! A Markdown table built row by row.

/// A Markdown table: headings, then rows of as many cells.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (as many cells as headings).
    pub fn row(&mut self, cells: impl IntoIterator<Item = String>) -> &mut Table {
        self.rows.push(cells.into_iter().collect());
        self
    }

    /// The table as Markdown, followed by a blank line.
    pub fn render(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let rule = vec!["---".to_string(); self.header.len()];
        let mut md = line(&self.header) + &line(&rule);
        for row in &self.rows {
            md += &line(row);
        }
        md + "\n"
    }
}
