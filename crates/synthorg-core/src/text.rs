//! Shared checks for free-text fields.

use crate::FieldError;

/// Checks that `value` has between `min` and `max` characters (Unicode scalar values) and is
/// not only white space when `min > 0`.
pub(crate) fn check_len(errors: &mut Vec<FieldError>, field: &str, value: &str, min: usize, max: usize) {
    // Count at most max+1 chars so a 10 MB string costs no more than a short one.
    let count = value.chars().take(max + 1).count();
    if count > max {
        errors.push(FieldError::new(field, format!("must be at most {max} characters")));
    } else if count < min || (min > 0 && value.trim().is_empty()) {
        errors.push(FieldError::new(
            field,
            format!("must have at least {min} non-blank character{}", if min == 1 { "" } else { "s" }),
        ));
    }
}

/// Checks a one-line name (agent name, role, department, title, provider, model …): its
/// length as [`check_len`], and no control, format or other invisible character (a newline
/// or an escape sequence in a name would forge log lines and console output).
pub(crate) fn check_line(errors: &mut Vec<FieldError>, field: &str, value: &str, min: usize, max: usize) {
    let before = errors.len();
    check_len(errors, field, value, min, max);
    if errors.len() == before
        && let Err(message) = crate::security::names::check_visible(value)
    {
        errors.push(FieldError::new(field, message.to_string()));
    }
}

/// Checks a list of short names (tool names and the like).
pub(crate) fn check_names(errors: &mut Vec<FieldError>, field: &str, values: &[String]) {
    if values.len() > 256 {
        errors.push(FieldError::new(field, "must have at most 256 entries"));
        return;
    }
    for (i, v) in values.iter().enumerate() {
        check_line(errors, &format!("{field}[{i}]"), v, 1, 128);
    }
}
