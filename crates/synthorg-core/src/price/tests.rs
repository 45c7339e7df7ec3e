use proptest::prelude::*;

use super::*;

const CATALOGUE: &str = r#"
version: "2026-01-15"
provider_aliases:
  gcp.gemini: google
models:
  - provider: anthropic
    model: claude-sonnet-4-5
    aliases: [claude-sonnet-latest]
    input: 3
    output: 15
    cache_read_input: 0.3
    cache_write_input: 3.75
    source: https://example.test/anthropic
  - provider: google
    model: gemini-2.5-pro
    input: 1.25
    output: 10
    cache_read_input: "0.125"
    reasoning_output: 12
    tiers:
      - above_input_tokens: 200000
        input: 2.5
        output: 15
    source: https://example.test/google
  - provider: openai
    model: gpt-4o-2024-05-13
    input: 5
    output: 15
    source: https://example.test/openai
  - provider: openai
    model: gpt-4o
    input: 2.5
    output: 10
    source: https://example.test/openai
"#;

fn usage(input: u64, output: u64, cache_read: u64, cache_write: u64, reasoning: u64) -> Usage {
    Usage { input, output, cache_read_input: cache_read, cache_write_input: cache_write, reasoning_output: reasoning }
}

fn usd(text: &str) -> Usd {
    Usd::parse(text).unwrap()
}

#[test]
fn costs_match_hand_computed_figures() {
    let c = Catalogue::from_yaml(CATALOGUE).unwrap();
    let cost = |provider: &str, model: &str, u: Usage| c.lookup(provider, model).unwrap().cost(&u).unwrap();
    // Each figure by hand, in USD: tokens × price / 1e6.
    let table = [
        // 1000 × 3 + 200 × 15 = 6000 → 0.006
        ("anthropic", "claude-sonnet-4-5", usage(1000, 200, 0, 0, 0), "0.006"),
        // plain 1000 × 3 = 3000; cache read 4000 × 0.3 = 1200; cache write 5000 × 3.75 = 18750;
        // output 100 × 15 = 1500 → 24450 / 1e6
        ("anthropic", "claude-sonnet-4-5", usage(10_000, 100, 4000, 5000, 0), "0.02445"),
        // Reasoning 300 of 500 output: 200 × 10 + 300 × 12 = 5600; input 1000 × 1.25 = 1250 → 6850
        ("google", "gemini-2.5-pro", usage(1000, 500, 0, 0, 300), "0.00685"),
        // Cache read of 1000 at 0.125 = 125; plain 1000 × 1.25 = 1250 → 1375
        ("google", "gemini-2.5-pro", usage(2000, 0, 1000, 0, 0), "0.001375"),
        // At the threshold the base prices apply: 200000 × 1.25 = 250000 → 0.25
        ("google", "gemini-2.5-pro", usage(200_000, 0, 0, 0, 0), "0.25"),
        // Above it the whole call is tiered: 200001 × 2.5 = 500002.5; 1000 × 15 = 15000.
        // The tier leaves cache_read and reasoning out: the base's 0.125 and 12 apply.
        ("google", "gemini-2.5-pro", usage(200_001, 1000, 0, 0, 0), "0.5150025"),
        ("google", "gemini-2.5-pro", usage(300_000, 1000, 100_000, 0, 500), "0.526"),
        // One token of a cheap class rounds once, half away from zero: 1 × 0.125 / 1e6 =
        // 0.000000125 → 0.000000125 exactly (nine places); 1 × 1.25 / 1e6 = 0.00000125.
        ("google", "gemini-2.5-pro", usage(1, 0, 1, 0, 0), "0.000000125"),
        // An alias and a provider alias.
        ("anthropic", "claude-sonnet-latest", usage(1_000_000, 0, 0, 0, 0), "3"),
        ("gcp.gemini", "gemini-2.5-pro", usage(100_000, 0, 0, 0, 0), "0.125"),
        // A dated snapshot listed itself keeps its own price; one not listed uses the family.
        ("openai", "gpt-4o-2024-05-13", usage(1_000_000, 0, 0, 0, 0), "5"),
        ("openai", "gpt-4o-2024-08-06", usage(1_000_000, 0, 0, 0, 0), "2.5"),
        ("anthropic", "claude-sonnet-4-5-20250929", usage(0, 1_000_000, 0, 0, 0), "15"),
        ("anthropic", "claude-sonnet-4-5@20250929", usage(0, 1, 0, 0, 0), "0.000015"),
    ];
    for (provider, model, u, expected) in table {
        assert_eq!(cost(provider, model, u), usd(expected), "{provider}/{model} {u:?}");
    }
    assert!(c.lookup("anthropic", "claude-unknown").is_none());
    assert!(c.lookup("Anthropic", "claude-sonnet-4-5").is_none(), "names match exactly");
}

#[test]
fn dated_snapshots_name_their_family() {
    for (model, family) in [
        ("claude-sonnet-4-5-20250929", Some("claude-sonnet-4-5")),
        ("gpt-4o-2024-08-06", Some("gpt-4o")),
        ("claude-3-5-sonnet@20240620", Some("claude-3-5-sonnet")),
        ("gpt-4o", None),
        ("-20250929", None),
        ("m-2025-08-0x", None),
        ("m-2025/08/06", None),
        ("gpt-4.1-nano", None),
        ("ünïcödé-20250929", Some("ünïcödé")),
        ("é2025-08-06", None),
        ("", None),
    ] {
        assert_eq!(snapshot_family(model), family, "{model}");
    }
}

#[test]
fn rounding_happens_once_per_record() {
    let text = "version: \"2026-01-01\"\nmodels:\n  - {provider: p, model: m, input: 0.0000015, output: 0.0000005, source: s}\n";
    let m = Catalogue::from_yaml(text).unwrap().lookup("p", "m").unwrap().clone();
    // 300 × 0.0000015 + 300 × 0.0000005 = 0.0006 per million → 6e-10 USD: one rounding gives
    // 1 nanodollar. Rounding each class first (0.45e-9 → 0, 0.15e-9 → 0) would give 0.
    assert_eq!(m.cost(&usage(300, 300, 0, 0, 0)).unwrap(), Usd::from_nanos(1));
    // Exactly half a nanodollar rounds away from zero.
    assert_eq!(m.cost(&usage(333, 0, 0, 0, 0)).unwrap(), Usd::from_nanos(0)); // 0.4995e-9
    assert_eq!(m.cost(&usage(1000, 0, 0, 0, 0)).unwrap(), Usd::from_nanos(2)); // 1.5e-9
}

#[test]
fn the_builtin_catalogue_is_valid_and_cites_its_sources() {
    let c = Catalogue::builtin();
    assert!(DATE.is_match(c.version()), "{}", c.version());
    assert!(c.models().len() >= 30);
    for m in c.models() {
        assert!(m.source.starts_with("https://"), "{}/{} has no public source", m.provider, m.model);
    }
    for (provider, model) in [
        ("anthropic", "claude-sonnet-4-5"),
        ("openai", "gpt-4.1-mini"),
        ("google", "gemini-2.5-flash"),
        ("gemini", "gemini-2.5-pro"),
    ] {
        assert!(c.lookup(provider, model).is_some(), "{provider}/{model}");
    }
}

#[test]
fn files_are_checked_with_paths() {
    let bad = r#"
version: "last week"
models:
  - {provider: "", model: m, input: 1, output: 1, source: s}
  - {provider: p, model: m, input: 1, output: 1, source: s, tiers: [{above_input_tokens: 10}, {above_input_tokens: 5}]}
  - {provider: p, model: n, aliases: [m], input: 1, output: 1, source: s}
"#;
    let CatalogueError::Invalid(errors) = Catalogue::from_yaml(bad).unwrap_err() else { panic!("not invalid") };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["version", "models[0].provider", "models[1].tiers[1].above_input_tokens"]);
    let CatalogueError::Invalid(errors) = Catalogue::from_yaml(
        &bad.replace("last week", "2026-01-01")
            .replace("provider: \"\"", "provider: q")
            .replace("[{above_input_tokens: 10}, {above_input_tokens: 5}]", "[]"),
    )
    .unwrap_err() else {
        panic!("not invalid")
    };
    assert_eq!(errors[0].field, "models[2].aliases[0]");
    for (text, needle) in [
        (
            "version: \"2026-01-01\"\nmodels:\n  - {provider: p, model: m, input: -1, output: 1, source: s}\n",
            "negative",
        ),
        ("version: \"2026-01-01\"\nmodels:\n  - {provider: p, model: m, imput: 1, output: 1, source: s}\n", "imput"),
        (
            "version: \"2026-01-01\"\nmodels:\n  - {provider: p, model: m, input: 1e7, output: 1, source: s}\n",
            "at most",
        ),
        (
            "version: \"2026-01-01\"\nmodels:\n  - {provider: p, model: m, input: abc, output: 1, source: s}\n",
            "decimal",
        ),
    ] {
        let e = Catalogue::from_yaml(text).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
}

/// An excerpt in the shape of LiteLLM's file, with its field names and number spellings.
const LITELLM: &str = r#"{
    "sample_spec": {
        "input_cost_per_token": 0.0,
        "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
        "max_tokens": "LEGACY parameter"
    },
    "claude-sonnet-4-5": {
        "cache_creation_input_token_cost": 3.75e-06,
        "cache_creation_input_token_cost_above_1hr": 6e-06,
        "cache_read_input_token_cost": 3e-07,
        "input_cost_per_token": 3e-06,
        "input_cost_per_token_batches": 1.5e-06,
        "litellm_provider": "anthropic",
        "max_input_tokens": 200000,
        "mode": "chat",
        "output_cost_per_token": 1.5e-05,
        "supports_reasoning": true,
        "supported_regions": ["global"]
    },
    "gemini/gemini-2.5-pro": {
        "cache_read_input_token_cost": 1.25e-07,
        "cache_read_input_token_cost_above_200k_tokens": 2.5e-07,
        "cache_read_input_token_cost_above_200k_tokens_priority": 4.5e-07,
        "input_cost_per_token": 1.25e-06,
        "input_cost_per_token_above_200k_tokens": 2.5e-06,
        "litellm_provider": "gemini",
        "output_cost_per_reasoning_token": 1e-05,
        "output_cost_per_token": 1e-05,
        "output_cost_per_token_above_200k_tokens": 1.5e-05
    },
    "gpt-5.6": {
        "cache_creation_input_token_cost": 5e-06,
        "cache_creation_input_token_cost_above_12hr_above_272k_tokens": 2e-05,
        "cache_creation_input_token_cost_above_272k_tokens": 1e-05,
        "cache_read_input_token_cost": 4e-07,
        "cache_read_input_token_cost_above_272k_tokens": 8e-07,
        "input_cost_per_token": 0.000004,
        "input_cost_per_token_above_272k_tokens": "8e-06",
        "litellm_provider": "openai",
        "output_cost_per_token": 2e-05,
        "output_cost_per_token_above_272k_tokens": 3e-05
    },
    "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "output_cost_per_pixel": 0.0},
    "text-embedding-3-small": {"input_cost_per_token": 2e-08, "litellm_provider": "openai", "output_cost_per_token": 0.0}
}"#;

#[test]
fn litellm_files_are_read_exactly() {
    let (c, skipped) = Catalogue::from_litellm_json(LITELLM, "litellm@test".into(), "prices.json").unwrap();
    assert_eq!(skipped, 2, "sample_spec and the image model");
    assert_eq!(c.models().len(), 4);
    let sonnet = c.lookup("anthropic", "claude-sonnet-4-5").unwrap();
    assert_eq!(sonnet.input.to_string(), "3");
    assert_eq!(sonnet.cache_write_input.unwrap().to_string(), "3.75");
    assert_eq!(sonnet.cache_read_input.unwrap().to_string(), "0.3");
    assert!(sonnet.tiers.is_empty(), "_above_1hr is a cache duration, not a token tier");
    assert_eq!(sonnet.source, "prices.json [claude-sonnet-4-5]");
    let gemini = c.lookup("gemini", "gemini-2.5-pro").unwrap();
    assert_eq!(gemini.reasoning_output.unwrap().to_string(), "10");
    assert_eq!(
        gemini.tiers,
        [Tier {
            above_input_tokens: 200_000,
            input: Some(PerMillion::parse("2.5").unwrap()),
            output: Some(PerMillion::parse("15").unwrap()),
            cache_read_input: Some(PerMillion::parse("0.25").unwrap()),
            cache_write_input: None,
            reasoning_output: None,
        }]
    );
    // 300000 input (100000 cached) and 1000 output, tiered: 200000 × 2.5 + 100000 × 0.25
    // + 1000 × 15 = 540000 → 0.54.
    assert_eq!(gemini.cost(&usage(300_000, 1000, 100_000, 0, 0)).unwrap(), usd("0.54"));
    let gpt = c.lookup("openai", "gpt-5.6").unwrap();
    assert_eq!(gpt.tiers.len(), 1, "{:?}", gpt.tiers);
    assert_eq!(gpt.tiers[0].above_input_tokens, 272_000);
    assert_eq!(gpt.tiers[0].input.unwrap().to_string(), "8");
    assert_eq!(gpt.tiers[0].cache_write_input.unwrap().to_string(), "10");
    let embedding = c.lookup("openai", "text-embedding-3-small").unwrap();
    assert_eq!(embedding.input.to_string(), "0.02");

    let broken = LITELLM.replace("\"input_cost_per_token\": 3e-06", "\"input_cost_per_token\": \"three\"");
    let e = Catalogue::from_litellm_json(&broken, "v".into(), "f").unwrap_err();
    assert!(e.to_string().starts_with("claude-sonnet-4-5.input_cost_per_token:"), "{e}");
    assert!(matches!(Catalogue::from_litellm_json("[1]", "v".into(), "f"), Err(CatalogueError::Syntax(_))));
}

#[test]
fn a_file_extends_or_replaces_entries() {
    let builtin = Catalogue::from_yaml(CATALOGUE).unwrap();
    let (file, _) = Catalogue::from_litellm_json(LITELLM, "litellm@abc".into(), "prices.json").unwrap();
    let merged = builtin.clone().extended_by(file);
    assert_eq!(merged.version(), "2026-01-15+litellm@abc");
    // Replaced: the file's entry for the same provider and model wins, and its old alias goes.
    assert_eq!(merged.lookup("anthropic", "claude-sonnet-4-5").unwrap().source, "prices.json [claude-sonnet-4-5]");
    // Kept: entries the file does not mention.
    assert_eq!(merged.lookup("openai", "gpt-4o").unwrap().input.to_string(), "2.5");
    // Added.
    assert!(merged.lookup("openai", "gpt-5.6").is_some());
    assert!(merged.lookup("gcp.gemini", "gemini-2.5-pro").is_some(), "provider aliases are kept");
}

#[test]
fn disagreement_is_over_one_percent_of_the_computed_cost() {
    assert!(!disagrees(usd("1.01"), usd("1")));
    assert!(disagrees(usd("1.010000001"), usd("1")));
    assert!(!disagrees(usd("0.99"), usd("1")));
    assert!(disagrees(usd("0.989999999"), usd("1")));
    assert!(!disagrees(Usd::ZERO, Usd::ZERO));
    assert!(disagrees(usd("0.000000001"), Usd::ZERO));
}

#[test]
fn usage_parts_may_not_exceed_their_wholes() {
    let check = |u: Usage| {
        let mut errors = Vec::new();
        u.check(&mut errors);
        errors.into_iter().map(|e| e.field).collect::<Vec<_>>()
    };
    assert!(check(usage(10, 10, 5, 5, 10)).is_empty());
    assert_eq!(check(usage(10, 10, 11, 0, 0)), ["cache_read_input_tokens"]);
    assert_eq!(check(usage(10, 10, 6, 5, 0)), ["cache_write_input_tokens"]);
    assert_eq!(check(usage(10, 10, 0, 0, 11)), ["reasoning_output_tokens"]);
    assert_eq!(check(usage(MAX_TOKENS + 1, 0, 0, 0, 0)), ["input_tokens"]);
    assert_eq!(
        check(usage(0, 0, u64::MAX, u64::MAX, 0)),
        ["cache_read_input_tokens", "cache_write_input_tokens", "cache_read_input_tokens"]
    );
}

fn arb_usage() -> impl Strategy<Value = Usage> {
    (0u64..5_000_000, 0u64..200_000).prop_flat_map(|(input, output)| {
        (Just(input), Just(output), 0..=input, 0..=output).prop_flat_map(move |(i, o, read, reasoning)| {
            (Just(i), Just(o), Just(read), 0..=(i - read), Just(reasoning))
                .prop_map(|(i, o, r, w, re)| usage(i, o, r, w, re))
        })
    })
}

proptest! {
    /// Any provider and model text is looked up without panicking.
    #[test]
    fn any_name_is_looked_up_safely(provider in "\\PC{0,12}", model in "\\PC{0,24}(-[0-9]{8}|@[0-9]{8}|-[0-9]{4}-[0-9]{2}-[0-9]{2})?") {
        let c = Catalogue::builtin();
        let _ = c.lookup(&provider, &model);
        if let Some(family) = snapshot_family(&model) {
            prop_assert!(model.starts_with(family) && family.len() < model.len());
        }
    }

    /// Costs are exact: a call's cost is within half a nanodollar of the exact figure and
    /// never negative, and the built-in catalogue prices every call without overflow.
    #[test]
    fn costs_are_exact(u in arb_usage(), model in 0usize..36) {
        let c = Catalogue::builtin();
        let m = &c.models()[model % c.models().len()];
        let cost = m.cost(&u).unwrap();
        prop_assert!(!cost.is_negative());
        let r = m.rates(u.input);
        let exact = Decimal::from(u.input - u.cache_read_input - u.cache_write_input) * r.input
            + Decimal::from(u.cache_read_input) * r.cache_read_input
            + Decimal::from(u.cache_write_input) * r.cache_write_input
            + Decimal::from(u.output - u.reasoning_output) * r.output
            + Decimal::from(u.reasoning_output) * r.reasoning_output;
        // |cost − exact / 1e6| ≤ 0.5e-9 USD  ⇔  |cost in nanos − exact × 1000| ≤ 0.5.
        prop_assert!((Decimal::from(cost.nanos()) - exact * Decimal::from(1000)).abs() <= Decimal::new(5, 1),
            "cost {cost} exact {exact}");
    }
}
