//! LiteLLM's `model_prices_and_context_window.json`: one object per model name with
//! per-token prices. What synthorg reads of an entry:
//!
//! | LiteLLM field                                   | synthorg class       |
//! |-------------------------------------------------|----------------------|
//! | `input_cost_per_token`                          | `input`              |
//! | `output_cost_per_token`                         | `output`             |
//! | `cache_read_input_token_cost`                   | `cache_read_input`   |
//! | `cache_creation_input_token_cost`               | `cache_write_input`  |
//! | `output_cost_per_reasoning_token`               | `reasoning_output`   |
//! | `<any of these>_above_<N>k_tokens`              | a tier above N×1000  |
//! | `litellm_provider`                              | `provider`           |
//!
//! The model name is the entry's key without a leading `<litellm_provider>/`. Entries
//! without a provider or without both token prices (image, audio, per-second models, the
//! `sample_spec` template) are skipped and counted. Other variants (`_batches`, `_flex`,
//! `_priority`, `_above_1hr`, audio and image prices) are not token classes synthorg
//! prices and are ignored. Numbers are read from their JSON text, exactly.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use super::{CatalogueError, ModelPrice, PerMillion, PriceError, Tier, checked};
use crate::FieldError;

/// LiteLLM field → index of the class in [`Prices`].
const CLASSES: [&str; 5] = [
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
];

type Prices = [Option<PerMillion>; 5];

pub(super) fn parse(text: &str, source: &str) -> Result<(Vec<ModelPrice>, usize), CatalogueError> {
    let entries: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(text).map_err(|e| CatalogueError::Syntax(e.to_string()))?;
    let mut models: Vec<ModelPrice> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut skipped = 0;
    let mut errors = Vec::new();
    for (key, raw) in &entries {
        let Ok(fields) = serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(raw.get()) else {
            skipped += 1;
            continue;
        };
        let Some(provider) = fields.get("litellm_provider").and_then(|v| serde_json::from_str::<String>(v.get()).ok())
        else {
            skipped += 1;
            continue;
        };
        let mut base: Prices = [None; 5];
        let mut tiers: BTreeMap<u64, Prices> = BTreeMap::new();
        for (name, value) in &fields {
            let Some((class, threshold)) = classify(name) else { continue };
            let price = match per_million(value.get()) {
                Ok(p) => p,
                Err(message) => {
                    errors.push(FieldError::new(format!("{key}.{name}"), message.to_string()));
                    continue;
                }
            };
            match threshold {
                None => base[class] = Some(price),
                Some(t) => tiers.entry(t).or_insert([None; 5])[class] = Some(price),
            }
        }
        let (Some(input), Some(output)) = (base[0], base[1]) else {
            skipped += 1;
            continue;
        };
        let model = key.strip_prefix(&format!("{provider}/")).unwrap_or(key).to_owned();
        if model.is_empty() || !seen.insert((provider.clone(), model.clone())) {
            skipped += 1;
            continue;
        }
        models.push(ModelPrice {
            provider,
            model,
            aliases: Vec::new(),
            input,
            output,
            cache_read_input: base[2],
            cache_write_input: base[3],
            reasoning_output: base[4],
            tiers: tiers
                .into_iter()
                .map(|(above_input_tokens, p)| Tier {
                    above_input_tokens,
                    input: p[0],
                    output: p[1],
                    cache_read_input: p[2],
                    cache_write_input: p[3],
                    reasoning_output: p[4],
                })
                .collect(),
            source: format!("{source} [{key}]"),
        });
    }
    checked(errors)?;
    Ok((models, skipped))
}

/// `input_cost_per_token` → (0, None); `input_cost_per_token_above_200k_tokens` →
/// (0, Some(200000)); anything else → None.
fn classify(name: &str) -> Option<(usize, Option<u64>)> {
    if let Some(class) = CLASSES.iter().position(|c| *c == name) {
        return Some((class, None));
    }
    let (base, rest) = name.split_once("_above_")?;
    let class = CLASSES.iter().position(|c| *c == base)?;
    let thousands: u64 = rest.strip_suffix("k_tokens")?.parse().ok()?;
    Some((class, Some(thousands.checked_mul(1000)?)))
}

/// A per-token price (a JSON number, or a string holding one) as an exact price per million.
fn per_million(raw: &str) -> Result<PerMillion, PriceError> {
    let text = match serde_json::from_str::<String>(raw) {
        Ok(s) => s,
        Err(_) => raw.trim().to_owned(),
    };
    let per_token = super::decimal(&text)?;
    PerMillion::new(per_token.checked_mul(Decimal::from(1_000_000)).ok_or(PriceError::TooLarge)?)
}
