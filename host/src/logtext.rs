//! Text that came from a plugin, made safe for a line-oriented log.

use std::fmt::Write as _;

/// Longest piece of plugin text kept in one log line.
pub const MAX_LOGGED: usize = 8 * 1024;

/// Escapes control characters (a plugin cannot forge log lines or colour the
/// operator's terminal) and caps the length at `max` bytes.
pub fn sanitize(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for ch in text.chars() {
        if out.len() >= max {
            out.push('…');
            break;
        }
        match ch {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_newlines_and_controls() {
        assert_eq!(sanitize("a\nb\x1b[31m", 100), "a\\nb\\u{1b}[31m");
    }

    #[test]
    fn caps_length() {
        let long = "x".repeat(20_000);
        let out = sanitize(&long, MAX_LOGGED);
        assert!(out.len() <= MAX_LOGGED + '…'.len_utf8());
    }
}
