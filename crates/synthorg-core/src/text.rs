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

/// Checks a list of short names (tool names and the like).
pub(crate) fn check_names(errors: &mut Vec<FieldError>, field: &str, values: &[String]) {
    if values.len() > 256 {
        errors.push(FieldError::new(field, "must have at most 256 entries"));
        return;
    }
    for (i, v) in values.iter().enumerate() {
        let before = errors.len();
        check_len(errors, &format!("{field}[{i}]"), v, 1, 128);
        if errors.len() == before
            && let Err(message) = crate::security::names::check_visible(v)
        {
            errors.push(FieldError::new(format!("{field}[{i}]"), message));
        }
    }
}
