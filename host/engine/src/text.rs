//! Guest- and device-supplied text made safe for where it is shown: terminals and log lines.
//!
//! A guest's `ignore` reason, log line or stdout, and a device's serial number, reach the CLI's
//! tables and the Lambda's log lines. Printed raw, an ESC sequence can clear a terminal or draw
//! a forged "ok" row in `check`, and a bidi override can make a line read differently than it
//! is; U+2028/U+2029 break JavaScript-based log viewers that split on them.

use std::borrow::Cow;
use std::io;

use serde::Serialize;

/// Whether `c` is escaped in terminal text: control characters (C0, DEL, C1, newline
/// included), line and paragraph separators, and bidirectional formatting characters.
fn is_unsafe(c: char) -> bool {
    c.is_control() || is_invisible_format(c)
}

/// Characters escaped even inside JSON strings (which already escape C0 controls).
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{2028}' | '\u{2029}' | '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// `s` with every unsafe character written as `\u{..}`, so one field prints as one line of
/// exactly the characters it holds.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `value` as one line of JSON in which U+2028, U+2029, bidi controls and C1 controls are
/// `\uXXXX` escapes too; serde_json leaves them raw, as JSON allows.
pub fn json_line<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(512);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, SafeFormatter);
    value.serialize(&mut serializer)?;
    // Only valid UTF-8 is written: serde_json's own output plus ASCII escapes.
    String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

struct SafeFormatter;

impl serde_json::ser::Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_invisible_format(c) || ('\u{7f}'..='\u{9f}').contains(&c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_text_escapes_what_could_redraw_the_screen() {
        assert_eq!(escape_control("plain text"), Cow::Borrowed("plain text"));
        assert_eq!(escape_control("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape_control("ok\nFORGED"), "ok\\u{a}FORGED");
        assert_eq!(
            escape_control("x\u{202e}y\u{2028}z\u{9b}"),
            "x\\u{202e}y\\u{2028}z\\u{9b}"
        );
        assert_eq!(escape_control("café ünïcode"), "café ünïcode");
    }

    #[test]
    fn json_lines_escape_separators_and_bidi_and_stay_json() {
        let value =
            serde_json::json!({"m": "a\u{2028}b\u{2029}c\u{202e}d\u{85}e\nf\u{1b}", "ok": "é"});
        let line = json_line(&value).unwrap();
        assert!(
            !line.contains('\u{2028}') && !line.contains('\u{202e}') && !line.contains('\u{85}')
        );
        assert!(line.contains("\\u2028") && line.contains("\\u202e") && line.contains("\\u0085"));
        assert!(!line.contains('\n'));
        assert!(line.contains('é'));
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, value);
    }
}
