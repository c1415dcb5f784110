//! Renders the report's own Markdown (headings, paragraphs, bullet lists, pipe tables,
//! `**bold**` and `` `code` ``) to HTML. Only that subset: the input is always
//! [`crate::report::Report::to_markdown`], never user-written Markdown.

use super::esc;

/// HTML for `md`; `skip_title` drops the leading `# ` heading (the page has its own).
pub fn to_html(md: &str, skip_title: bool) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = md.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            i += 1;
        } else if let Some(h) = line.strip_prefix("# ") {
            if !skip_title {
                out += &format!("<h1>{}</h1>\n", inline(h));
            }
            i += 1;
        } else if let Some(h) = line.strip_prefix("## ") {
            out += &format!("<h2>{}</h2>\n", inline(h));
            i += 1;
        } else if let Some(h) = line.strip_prefix("### ") {
            out += &format!("<h3>{}</h3>\n", inline(h));
            i += 1;
        } else if line.starts_with('|') {
            let start = i;
            while i < lines.len() && lines[i].starts_with('|') {
                i += 1;
            }
            out += &table(&lines[start..i]);
        } else if line.starts_with("- ") {
            out += "<ul>\n";
            while i < lines.len() && lines[i].starts_with("- ") {
                out += &format!("<li>{}</li>\n", inline(&lines[i][2..]));
                i += 1;
            }
            out += "</ul>\n";
        } else {
            // A paragraph: this line (whatever it starts with) and the plain lines after it.
            let start = i;
            i += 1;
            while i < lines.len() && !lines[i].trim().is_empty() && !is_block_start(lines[i]) {
                i += 1;
            }
            out += &format!("<p>{}</p>\n", inline(&lines[start..i].join(" ")));
        }
    }
    out
}

fn is_block_start(line: &str) -> bool {
    line.starts_with('|') || line.starts_with("- ") || line.starts_with('#')
}

fn cells(line: &str) -> Vec<&str> {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    t.split('|').map(str::trim).collect()
}

fn table(rows: &[&str]) -> String {
    let mut out = String::from("<table>\n");
    let is_sep = |l: &str| {
        cells(l)
            .iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| ch == '-' || ch == ':'))
    };
    let has_header = rows.len() > 1 && is_sep(rows[1]);
    for (n, row) in rows.iter().enumerate() {
        if has_header && n == 1 {
            continue;
        }
        let tag = if has_header && n == 0 { "th" } else { "td" };
        out += "<tr>";
        for c in cells(row) {
            out += &format!("<{tag}>{}</{tag}>", inline(c));
        }
        out += "</tr>\n";
    }
    out + "</table>\n"
}

/// Escapes, then turns `**x**` into `<strong>` and `` `x` `` into `<code>`.
fn inline(text: &str) -> String {
    let escaped = esc(text);
    let mut out = String::new();
    let mut bold = false;
    let mut code = false;
    let mut rest = escaped.as_str();
    while !rest.is_empty() {
        if !code && rest.starts_with("**") {
            out += if bold { "</strong>" } else { "<strong>" };
            bold = !bold;
            rest = &rest[2..];
        } else if rest.starts_with('`') {
            out += if code { "</code>" } else { "<code>" };
            code = !code;
            rest = &rest[1..];
        } else {
            let ch = rest.chars().next().expect("non-empty");
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    if code {
        out += "</code>";
    }
    if bold {
        out += "</strong>";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_subset_renders() {
        let md = "# Title\n\nSome **bold** and `code` <b>.\n\n## Section\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n### Sub\n#### odd\n";
        let html = to_html(md, true);
        assert_eq!(
            html,
            "<p>Some <strong>bold</strong> and <code>code</code> &lt;b&gt;.</p>\n<h2>Section</h2>\n<table>\n<tr><th>a</th><th>b</th></tr>\n<tr><td>1</td><td>2</td></tr>\n</table>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n<h3>Sub</h3>\n<p>#### odd</p>\n"
        );
    }
}
