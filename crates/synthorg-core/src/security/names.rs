//! The names the policy compares — tool names, action types and the patterns that match them
//! — in one canonical spelling, so that a rule cannot be dodged by how a name is written:
//! `ADMIN`, `ａｄｍｉｎ` (fullwidth), `𝐚𝐝𝐦𝐢𝐧` (mathematical bold) and ` admin ` are all
//! `admin`. Names holding invisible or format characters (a zero-width space inside
//! `ad​min`, a bidi override, a soft hyphen) are refused outright rather than guessed at.
//!
//! Not covered: confusables across scripts (Cyrillic `а` is not Latin `a`; UTS #39 skeletons
//! would be needed). Levels that must be strict should allow-list their action types, so an
//! unknown spelling is denied rather than allowed.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Is `c` a character a name must not hold: controls, format characters (zero-width,
/// bidi controls, soft hyphen, BOM), line and paragraph separators, private-use code points,
/// variation selectors and the Hangul fillers that render as nothing.
///
/// Code points unassigned in our Unicode tables are allowed: a client on a newer Unicode
/// version may name an agent with a character we do not know yet, and refusing it would be a
/// false error. (A surrogate cannot occur in a `char`.)
pub fn is_invisible(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
    ) || matches!(
        c,
        '\u{180B}'..='\u{180F}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{E0100}'..='\u{E01EF}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{3164}'
            | '\u{FFA0}'
    )
}

/// The regular expression (ECMA-262 and Python alike) of a one-line text the API accepts:
/// no [`is_invisible`] character and, when `non_blank`, at least one that is not white space.
/// Built from [`is_invisible`] itself, so the OpenAPI document states exactly the rule the
/// server applies. Characters outside the Basic Multilingual Plane appear literally, as the
/// two dialects spell their escapes differently.
pub fn visible_line_pattern(non_blank: bool) -> String {
    static CLASS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut runs: Vec<(char, char)> = Vec::new();
        for c in ('\0'..=char::MAX).filter(|c| is_invisible(*c)) {
            match runs.last_mut() {
                Some((_, end)) if char::from_u32(*end as u32 + 1) == Some(c) => *end = c,
                _ => runs.push((c, c)),
            }
        }
        let spell = |c: char| if (c as u32) < 0x1_0000 { format!("\\u{:04x}", c as u32) } else { c.to_string() };
        runs.iter()
            .map(
                |&(first, last)| if first == last { spell(first) } else { format!("{}-{}", spell(first), spell(last)) },
            )
            .collect()
    });
    let class = &*CLASS;
    if non_blank { format!("^[^{class}]*[^{class}\\s][^{class}]*$") } else { format!("^[^{class}]*$") }
}

/// An invisible, format or control character where only visible text is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must not contain invisible, format or control characters (found U+{:04X})", u32::from(*.0))]
pub struct Invisible(pub char);

/// `Err` naming the first invisible character of `name`, as `U+XXXX`.
pub fn check_visible(name: &str) -> Result<(), Invisible> {
    match name.chars().find(|c| is_invisible(*c)) {
        None => Ok(()),
        Some(c) => Err(Invisible(c)),
    }
}

/// The canonical spelling: Unicode NFKC, lowercased, NFKC again (lowercasing can leave a
/// sequence NFKC composes), white space trimmed. ASCII lowercase names come back borrowed.
pub fn canonical(name: &str) -> Cow<'_, str> {
    let trimmed = name.trim();
    if trimmed.bytes().all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase()) {
        return Cow::Borrowed(trimmed);
    }
    let lowered = name.nfkc().collect::<String>().to_lowercase();
    Cow::Owned(lowered.nfkc().collect::<String>().trim().to_owned())
}

/// Does `name` match one of `patterns` (canonical spellings; a trailing `*` matches by
/// prefix)?
pub(super) fn matches_any(patterns: &[String], name: &str) -> bool {
    let name = canonical(name);
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => *p == name,
    })
}

/// Patterns in their canonical spelling (the `*` of a prefix pattern kept).
pub(super) fn canonical_patterns(patterns: &[String]) -> Vec<String> {
    patterns
        .iter()
        .map(|p| match p.strip_suffix('*') {
            Some(prefix) => format!("{}*", canonical(prefix)),
            None => canonical(p).into_owned(),
        })
        .collect()
}
