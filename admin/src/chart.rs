//! Small horizontal bar charts drawn as SVG on the server (no JavaScript): one row per
//! category, one bar per series, every bar with a `<title>` and its value written beside it,
//! so the numbers are readable without the picture (and by screen readers).
//!
//! Colours meet 3:1 against white for graphics (WCAG 1.4.11); series also differ by pattern
//! of position and the legend, never by colour alone.

use std::fmt::Write as _;

/// One series: its name (legend) and colour.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// CSS colour of its bars.
    pub colour: &'a str,
}

/// One category: its label and one value per series.
#[derive(Debug, Clone)]
pub struct Row {
    /// Label written left of the bars.
    pub label: String,
    /// Values, in series order.
    pub values: Vec<i64>,
}

const LABEL_WIDTH: f64 = 260.0;
const BAR_AREA: f64 = 360.0;
const VALUE_WIDTH: f64 = 60.0;
const BAR_HEIGHT: f64 = 14.0;
const ROW_GAP: f64 = 10.0;
const LEGEND_HEIGHT: f64 = 24.0;
const FONT: &str = "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Keeps a label to about `max` characters (a CJK character counts two).
fn clip(label: &str, max: usize) -> String {
    let mut width = 0;
    let mut out = String::new();
    for c in label.chars() {
        width += if c.is_ascii() { 1 } else { 2 };
        if width > max {
            out.push('…');
            return out;
        }
        out.push(c);
    }
    out
}

/// A horizontal grouped bar chart titled `title` (the SVG's accessible name and `<title>`).
/// Negative values are drawn as zero; an empty `rows` gives a chart saying there is no data.
#[must_use]
pub fn bars(title: &str, series: &[Series<'_>], rows: &[Row]) -> String {
    let per_row = series.len().max(1) as f64 * BAR_HEIGHT;
    let body = if rows.is_empty() {
        BAR_HEIGHT + ROW_GAP
    } else {
        rows.len() as f64 * (per_row + ROW_GAP)
    };
    let width = LABEL_WIDTH + BAR_AREA + VALUE_WIDTH;
    let height = LEGEND_HEIGHT + body + ROW_GAP;
    let max = rows
        .iter()
        .flat_map(|r| r.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut s = String::new();
    let t = escape(title);
    // Writing to a String cannot fail.
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{t}\" font-family=\"{FONT}\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<title>{t}</title>");
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>");
    // Legend.
    let mut x = LABEL_WIDTH;
    for se in series {
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"4\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"14\" fill=\"#1a1a1a\">{}</text>",
            escape(se.colour),
            x + 16.0,
            escape(se.name)
        );
        x += 16.0 + 14.0 * se.name.chars().count() as f64 + 24.0;
    }
    if rows.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{LABEL_WIDTH}\" y=\"{}\" fill=\"#4a4a4a\">暂无数据</text>",
            LEGEND_HEIGHT + BAR_HEIGHT
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let top = LEGEND_HEIGHT + i as f64 * (per_row + ROW_GAP);
        let label = escape(&clip(&row.label, 40));
        let _ = writeln!(s, "<g class=\"row\"><title>{}</title>", escape(&row.label));
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#1a1a1a\">{label}</text>",
            LABEL_WIDTH - 8.0,
            top + per_row / 2.0 + 4.0
        );
        for (j, se) in series.iter().enumerate() {
            let value = row.values.get(j).copied().unwrap_or(0).max(0);
            let w = (value as f64 / max * BAR_AREA).round();
            let y = top + j as f64 * BAR_HEIGHT;
            let _ = writeln!(
                s,
                "<rect x=\"{LABEL_WIDTH}\" y=\"{y}\" width=\"{w}\" height=\"{}\" fill=\"{}\"><title>{}：{}：{value}</title></rect>\
                 <text x=\"{}\" y=\"{}\" fill=\"#1a1a1a\">{value}</text>",
                BAR_HEIGHT - 2.0,
                escape(se.colour),
                escape(&row.label),
                escape(se.name),
                LABEL_WIDTH + w + 4.0,
                y + BAR_HEIGHT - 3.0
            );
        }
        let _ = writeln!(s, "</g>");
    }
    let _ = writeln!(s, "</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: [Series<'static>; 2] = [
        Series {
            name: "待办",
            colour: "#0b4f9c",
        },
        Series {
            name: "已超时",
            colour: "#a30000",
        },
    ];

    #[test]
    fn bars_scale_to_the_largest_value_and_label_every_bar() {
        let svg = bars(
            "各队列待办与超时",
            &TWO,
            &[
                Row {
                    label: "客服审核 <审核>".into(),
                    values: vec![10, 5],
                },
                Row {
                    label: "财务".into(),
                    values: vec![0, -3],
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<title>各队列待办与超时</title>"), "{svg}");
        assert!(svg.contains("aria-label=\"各队列待办与超时\""));
        // The largest value spans the whole bar area, half of it half.
        assert!(svg.contains("width=\"360\""), "{svg}");
        assert!(svg.contains("width=\"180\""), "{svg}");
        // Labels are escaped; each bar has a title naming category, series and value.
        assert!(svg.contains("客服审核 &lt;审核&gt;：已超时：5"), "{svg}");
        assert!(!svg.contains("<审核>"));
        // A negative value draws as zero.
        assert!(svg.contains("财务：已超时：0"), "{svg}");
    }

    #[test]
    fn an_empty_chart_says_so() {
        let svg = bars("空", &TWO, &[]);
        assert!(svg.contains("暂无数据"), "{svg}");
    }

    #[test]
    fn long_labels_are_clipped_but_kept_whole_in_titles() {
        let long = "很".repeat(30);
        let svg = bars(
            "x",
            &TWO[..1],
            &[Row {
                label: long.clone(),
                values: vec![1],
            }],
        );
        assert!(svg.contains(&format!("<title>{long}</title>")));
        assert!(svg.contains('…'));
    }
}
