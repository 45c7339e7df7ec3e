use serde_json::json;
use time::macros::datetime;

use super::*;

/// RFC 8785 §3.2.2: whitespace, numbers, string escapes and literals.
#[test]
fn canonical_form_matches_rfc8785_sample() {
    let input: Value = serde_json::from_str(
        r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#,
    )
    .unwrap();
    let expected = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\
                    \"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    assert_eq!(String::from_utf8(serde_json_canonicalizer::to_vec(&input).unwrap()).unwrap(), expected);
}

/// RFC 8785 §3.2.3: property names sorted by their UTF-16 code units.
#[test]
fn canonical_form_sorts_names_by_utf16_like_rfc8785() {
    let input: Value = serde_json::from_str(
        r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#,
    )
    .unwrap();
    let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
                    \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                    \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(String::from_utf8(serde_json_canonicalizer::to_vec(&input).unwrap()).unwrap(), expected);
}

/// RFC 8785 Appendix B: numbers in their ECMAScript form, from their IEEE 754 bits.
#[test]
fn canonical_numbers_match_rfc8785_appendix_b() {
    let samples: [(u64, &str); 10] = [
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x444b1ae4d6e2ef50, "1e+21"),
    ];
    for (bits, expected) in samples {
        let value = json!(f64::from_bits(bits));
        let text = String::from_utf8(serde_json_canonicalizer::to_vec(&value).unwrap()).unwrap();
        assert_eq!(text, expected, "bits {bits:#018x}");
    }
}

fn sample() -> AuditEvent {
    AuditEvent {
        seq: 1,
        id: "01938f6e-8c00-7000-8000-000000000001".parse().unwrap(),
        at: datetime!(2026-12-05 10:00:00.000123 UTC),
        actor: "key:admin1".into(),
        action: AuditAction::KeyRevoked,
        target_type: "api_key".into(),
        target_id: "k1".into(),
        before: Some(json!({"revoked_at": null})),
        after: Some(json!({"revoked_at": "2026-12-05T10:00:00Z"})),
        request_id: Some("req-1".into()),
        trace_id: None,
        prev_hash: GENESIS_HASH.into(),
        hash: String::new(),
    }
}

/// The bytes hashed and the hash itself, computed independently (sha256 of the literal text).
#[test]
fn hash_covers_the_canonical_event_without_its_hash() {
    let event = sample();
    let canonical = r#"{"action":"key.revoked","actor":"key:admin1","after":{"revoked_at":"2026-12-05T10:00:00Z"},"at":"2026-12-05T10:00:00.000123Z","before":{"revoked_at":null},"id":"01938f6e-8c00-7000-8000-000000000001","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","request_id":"req-1","seq":1,"target_id":"k1","target_type":"api_key","trace_id":null}"#;
    assert_eq!(String::from_utf8(event.canonical_content()).unwrap(), canonical);
    assert_eq!(event.content_hash(), "2d26a41a06d9330d48ef907dde124d8866725646c2ea45e715b224f13308d5cf");
}

fn chain(n: i64) -> Vec<AuditEvent> {
    let context = AuditContext { actor: "key:a".into(), request_id: Some("r".into()), trace_id: None };
    let mut head = AuditHead::genesis();
    (0..n)
        .map(|i| {
            let new = NewAuditEvent {
                action: AuditAction::KeyCreated,
                target_type: "api_key",
                target_id: format!("k{i}"),
                before: None,
                after: Some(json!({"role": "viewer"})),
            };
            let event = new.seal(&context, &head, datetime!(2026-12-05 10:00 UTC));
            head = event.head();
            event
        })
        .collect()
}

fn verify(events: &[AuditEvent], held: Option<AuditHead>) -> Result<AuditHead, ChainBreak> {
    let mut verifier = ChainVerifier::new(held);
    for event in events {
        verifier.check(event)?;
    }
    verifier.finish()
}

#[test]
fn a_sealed_chain_verifies_and_round_trips_through_json() {
    let events = chain(5);
    assert_eq!(events[0].prev_hash, GENESIS_HASH);
    assert_eq!(events[1].prev_hash, events[0].hash);
    let head = verify(&events, None).unwrap();
    assert_eq!(head, events[4].head());
    let reread: Vec<AuditEvent> =
        events.iter().map(|e| serde_json::from_str(&serde_json::to_string(e).unwrap()).unwrap()).collect();
    assert_eq!(reread, events);
    assert_eq!(verify(&reread, Some(head)).unwrap().seq, 5);
}

#[test]
fn verify_names_the_first_bad_event() {
    let events = chain(6);

    let mut altered = events.clone();
    altered[2].actor = "key:someone-else".into();
    assert_eq!(verify(&altered, None), Err(ChainBreak::Altered { seq: 3 }));

    let mut removed = events.clone();
    removed.remove(3);
    assert_eq!(verify(&removed, None), Err(ChainBreak::Missing { previous: 3, expected: 4, found: 5 }));

    let mut swapped = events.clone();
    swapped.swap(1, 2);
    assert_eq!(verify(&swapped, None), Err(ChainBreak::Missing { previous: 1, expected: 2, found: 3 }));

    let mut duplicated = events.clone();
    duplicated.insert(3, events[2].clone());
    assert_eq!(verify(&duplicated, None), Err(ChainBreak::OutOfOrder { previous: 3, expected: 4, found: 3 }));

    // Replaced and re-hashed in place: the next event no longer links to it.
    let mut replaced = events.clone();
    replaced[1].target_id = "forged".into();
    replaced[1].hash = replaced[1].content_hash();
    assert_eq!(verify(&replaced, None), Err(ChainBreak::Unlinked { seq: 3, previous: 2 }));
}

#[test]
fn a_rehashed_tail_passes_alone_and_fails_against_a_held_head() {
    let events = chain(6);
    let held = events[5].head();
    // Drop the last two events and rewrite the new last one, re-hashed.
    let mut tail = events[..4].to_vec();
    tail[3].target_id = "rewritten".into();
    tail[3].hash = tail[3].content_hash();
    assert_eq!(verify(&tail, None).unwrap().seq, 4, "a re-hashed tail cannot be seen from the chain alone");
    assert_eq!(verify(&tail, Some(held)), Err(ChainBreak::Truncated { last: 4, held: 6 }));
    assert_eq!(verify(&tail, Some(events[3].head())), Err(ChainBreak::NotTheHead { seq: 4 }));
}

#[test]
fn heads_parse_from_their_display() {
    let head = chain(2)[1].head();
    assert_eq!(AuditHead::parse(&head.to_string()), Some(head));
    assert_eq!(AuditHead::parse("0:".to_owned().as_str()), None);
    assert_eq!(AuditHead::parse(&format!("-1:{GENESIS_HASH}")), None);
    assert_eq!(AuditHead::parse("3:xyz"), None);
}

#[test]
fn agent_updates_record_only_the_changed_fields() {
    let at = datetime!(2026-12-05 10:00 UTC);
    let before = Agent {
        id: Uuid::now_v7(),
        name: "ada".into(),
        role: "dev".into(),
        department: "eng".into(),
        status: AgentStatus::Active,
        trust_level: crate::agent::TrustLevel::Standard,
        allowed_tools: vec![],
        denied_tools: vec![],
        created_at: at,
        updated_at: at,
    };
    let mut after = before.clone();
    after.trust_level = crate::agent::TrustLevel::Elevated;
    after.updated_at = datetime!(2026-12-05 11:00 UTC);
    let event = NewAuditEvent::agent_updated(&before, &after);
    assert_eq!(event.action, AuditAction::AgentUpdated);
    assert_eq!(event.before, Some(json!({"trust_level": "standard"})));
    assert_eq!(event.after, Some(json!({"trust_level": "elevated"})));

    after.status = AgentStatus::Terminated;
    let event = NewAuditEvent::agent_updated(&before, &after);
    assert_eq!(event.action, AuditAction::AgentTerminated);
    assert_eq!(event.after, Some(json!({"trust_level": "elevated", "status": "terminated"})));
}

/// The whole event handed to the canonicaliser: what [`AuditEvent::canonical_content`]
/// composes member by member.
fn canonicalised_whole(event: &AuditEvent) -> Vec<u8> {
    #[derive(Serialize)]
    struct Content<'a> {
        seq: i64,
        id: &'a Uuid,
        at: String,
        actor: &'a str,
        action: AuditAction,
        target_type: &'a str,
        target_id: &'a str,
        before: &'a Option<Value>,
        after: &'a Option<Value>,
        request_id: &'a Option<String>,
        trace_id: &'a Option<String>,
        prev_hash: &'a str,
    }
    serde_json_canonicalizer::to_vec(&Content {
        seq: event.seq,
        id: &event.id,
        at: format_at(event.at),
        actor: &event.actor,
        action: event.action,
        target_type: &event.target_type,
        target_id: &event.target_id,
        before: &event.before,
        after: &event.after,
        request_id: &event.request_id,
        trace_id: &event.trace_id,
        prev_hash: &event.prev_hash,
    })
    .unwrap()
}

mod composed {
    use proptest::prelude::*;

    use super::*;

    /// Any text, controls, separators, quotes and astral characters included.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(
                prop_oneof![
                    Just('\0'),
                    Just('\n'),
                    Just('\r'),
                    Just('\u{1b}'),
                    Just('\u{7f}'),
                    Just('\u{85}'),
                    Just('\u{2028}'),
                    Just('"'),
                    Just('\\'),
                    Just('/'),
                    Just('\u{e000}'),
                    Just('\u{1f600}'),
                    any::<char>(),
                ],
                0..12,
            )
            .prop_map(|c| c.into_iter().collect()),
        ]
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(text(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn event() -> impl Strategy<Value = AuditEvent> {
        (
            (0..i64::from(u32::MAX), any::<u128>(), 0..4_000_000_000_000_000i64, text(), text(), text()),
            (
                proptest::option::of(json()),
                proptest::option::of(json()),
                proptest::option::of(text()),
                proptest::option::of(text()),
                "[0-9a-f]{64}",
            ),
        )
            .prop_map(
                |((seq, id, micros, actor, target_type, target_id), (before, after, request_id, trace_id, prev))| {
                    AuditEvent {
                        seq,
                        id: Uuid::from_u128(id),
                        at: OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).unwrap(),
                        actor,
                        action: AuditAction::AgentUpdated,
                        target_type,
                        target_id,
                        before,
                        after,
                        request_id,
                        trace_id,
                        prev_hash: prev,
                        hash: String::new(),
                    }
                },
            )
    }

    proptest! {
        /// The composed form is byte for byte the canonicaliser's form of the whole event.
        #[test]
        fn composed_canonical_form_is_the_canonicalisers(event in event()) {
            prop_assert_eq!(
                String::from_utf8(event.canonical_content()).unwrap(),
                String::from_utf8(canonicalised_whole(&event)).unwrap()
            );
        }
    }
}
