//! `budget.prices_file`: the price catalogue in force, read when the configuration is checked.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use synthorg_core::FieldError;
use synthorg_core::price::Catalogue;

use super::BudgetSection;

/// How a prices file combines with the built-in catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PricesMode {
    /// The file's entries are added; an entry for a provider and model the built-in
    /// catalogue lists replaces it.
    #[default]
    Extend,
    /// Only the file's entries are in force.
    Replace,
}

/// The catalogue the configuration asks for: the built-in one, extended or replaced by
/// `prices_file` (LiteLLM's JSON format when the name ends in `.json`, else synthorg's YAML).
/// Problems are reported under `budget.prices_file`; the built-in catalogue stands in.
pub(crate) fn load(budget: &BudgetSection, errors: &mut Vec<FieldError>) -> Catalogue {
    let builtin = Catalogue::builtin();
    let Some(path) = &budget.prices_file else {
        if budget.prices_mode == PricesMode::Replace {
            errors.push(FieldError::new("budget.prices_mode", "replace needs budget.prices_file"));
        }
        return builtin;
    };
    match read(path) {
        Ok(file) => match budget.prices_mode {
            PricesMode::Extend => builtin.extended_by(file),
            PricesMode::Replace => file,
        },
        Err(message) => {
            errors.push(FieldError::new("budget.prices_file", format!("{}: {message}", path.display())));
            builtin
        }
    }
}

/// Why a prices file was not read.
#[derive(Debug, thiserror::Error)]
enum PricesFileError {
    #[error("cannot read: {0}")]
    Read(#[from] std::io::Error),
    #[error("{0}")]
    Catalogue(#[from] synthorg_core::price::CatalogueError),
    #[error("no entry with token prices ({0} skipped)")]
    Empty(usize),
}

fn read(path: &Path) -> Result<Catalogue, PricesFileError> {
    let text = std::fs::read_to_string(path)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.ends_with(".json") {
        // LiteLLM's file carries no version: its content names it.
        let digest = Sha256::digest(text.as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let (catalogue, skipped) = Catalogue::from_litellm_json(&text, format!("litellm-sha256:{hex}"), &name)?;
        if catalogue.models().is_empty() {
            return Err(PricesFileError::Empty(skipped));
        }
        Ok(catalogue)
    } else {
        Ok(Catalogue::from_yaml(&text)?)
    }
}
