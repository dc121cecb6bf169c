//! Text measurement and cleaning shared by the Mermaid and SVG writers.
//!
//! No font metrics are available without a rendering engine, so widths are
//! estimated: CJK and other full-width characters take about one em, Latin
//! letters and digits about 0.6 em, which errs on the wide side for the sans
//! serif fonts the SVG asks for.

/// Estimated advance width, in em, of characters drawn full width.
const WIDE_EM: f64 = 1.0;
/// Estimated advance width, in em, of wide Latin capitals and symbols.
const BROAD_EM: f64 = 0.75;
/// Estimated advance width, in em, of other characters.
const NARROW_EM: f64 = 0.6;

/// Estimates the rendered width in pixels of `text` at `font_size` pixels.
///
/// CJK ideographs, kana, Hangul and full-width forms count as 1.0 em, most
/// other characters as 0.6 em and combining or zero-width characters as
/// nothing; control characters count as the space they are drawn as.
pub fn text_width(text: &str, font_size: f64) -> f64 {
    text.chars().map(char_em).sum::<f64>() * font_size
}

/// Estimated advance width of one character, in em.
fn char_em(c: char) -> f64 {
    if is_zero_width(c) {
        0.0
    } else if is_wide(c) {
        WIDE_EM
    } else if c.is_ascii_uppercase() || matches!(c, 'm' | 'w' | '@' | '%') {
        BROAD_EM
    } else {
        NARROW_EM
    }
}

/// Whether `c` is drawn full width by CJK fonts.
fn is_wide(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{115F}'     // Hangul Jamo leading consonants
        | '\u{2014}'                // em dash, full width in CJK fonts
        | '\u{2018}'..='\u{201F}'   // curly quotes, full width in CJK fonts
        | '\u{2026}'                // ellipsis
        | '\u{2E80}'..='\u{9FFF}'   // radicals, CJK punctuation, kana, ideographs
        | '\u{A960}'..='\u{A97F}'   // Hangul Jamo extended A
        | '\u{AC00}'..='\u{D7AF}'   // Hangul syllables
        | '\u{F900}'..='\u{FAFF}'   // CJK compatibility ideographs
        | '\u{FE10}'..='\u{FE1F}'   // vertical forms
        | '\u{FE30}'..='\u{FE6F}'   // CJK compatibility and small forms
        | '\u{FF00}'..='\u{FFEF}'   // half-width and full-width forms
        | '\u{1F300}'..='\u{1F64F}' // pictographs and emoticons
        | '\u{1F900}'..='\u{1F9FF}' // supplemental pictographs
        | '\u{20000}'..='\u{3FFFD}' // CJK extensions B and later
    )
}

/// Whether `c` takes no horizontal space of its own.
fn is_zero_width(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'     // combining diacritics
        | '\u{200B}'..='\u{200F}'   // zero-width space, joiners, marks
        | '\u{2060}'..='\u{2064}'   // word joiner and invisible operators
        | '\u{FE00}'..='\u{FE0F}'   // variation selectors
        | '\u{FEFF}'                // byte order mark
    )
}

/// Turns a label into one line: control characters (newlines, tabs) become
/// spaces and surrounding whitespace is trimmed.
pub(crate) fn one_line(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    line.trim().to_owned()
}

/// Escapes text for XML character data and attribute values; characters XML
/// cannot carry at all are replaced by U+FFFD.
pub(crate) fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Whether `c` is allowed in an XML 1.0 document.
fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_counts_one_em_and_ascii_less() {
        assert_eq!(text_width("管理员审核", 13.0), 65.0);
        let ascii = text_width("approve", 13.0);
        assert!((ascii - 7.0 * 0.6 * 13.0).abs() < 1e-9, "{ascii}");
        assert_eq!(text_width("", 13.0), 0.0);
        assert_eq!(text_width("ＡＢ", 10.0), 20.0);
        assert_eq!(text_width("e\u{301}", 10.0), 6.0);
    }

    #[test]
    fn mixed_text_adds_up() {
        let mixed = text_width("银行bank", 13.0);
        assert!((mixed - (2.0 + 4.0 * 0.6) * 13.0).abs() < 1e-9, "{mixed}");
    }

    #[test]
    fn xml_escaping_covers_markup_and_invalid_characters() {
        assert_eq!(
            escape_xml(r#"a "b" <c> & 'd'"#),
            "a &quot;b&quot; &lt;c&gt; &amp; &apos;d&apos;"
        );
        assert_eq!(escape_xml("x\u{1}y\u{FFFF}"), "x\u{FFFD}y\u{FFFD}");
        assert_eq!(escape_xml("审核"), "审核");
    }

    #[test]
    fn one_line_removes_control_characters() {
        assert_eq!(one_line("  a\nb\tc \r\n"), "a b c");
    }
}
