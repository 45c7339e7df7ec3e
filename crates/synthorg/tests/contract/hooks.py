"""Schemathesis hooks for the contract test (tests/it/contract.rs).

The document states every rule a single field can carry. A few rules are about the store,
not the field: an `agent_id` must name an agent that exists, a `task_id` a task. A random
UUID in such a field is rightly answered 422, which schemathesis would count as "valid data
rejected". So where a generated request holds a well-formed UUID in a reference field, these
hooks swap in the id of an agent or task the test registered first. Malformed values are left
alone: negative cases still reach the server as generated.

Cross-field rules the document describes only in words (alert thresholds strictly
increasing, cache and reasoning tokens part of their wholes, `occurred_at` within the last 24 hours)
are kept the same way: a generated body that breaks one is bent to the nearest body that keeps
it, and only when the fields involved are of the right types.
"""

import datetime
import decimal
import os
import uuid

import schemathesis

AGENT = os.environ["SYNTHORG_CONTRACT_AGENT"]
TASK = os.environ["SYNTHORG_CONTRACT_TASK"]

REFERENCES = {"agent_id": AGENT, "task_id": TASK, "parent_id": TASK, "assigned_to": AGENT}


def _is_uuid(value):
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


ALERT_DEFAULTS = {"warn": 75, "critical": 90, "hard_stop": 100}
MONEY = ("cost", "total_monthly", "per_task_limit", "per_agent_daily_limit", "amount")
PRICING = ("provider", "model", "max_input_tokens", "max_output_tokens")


@schemathesis.hook
def before_call(context, case, kwargs):
    """Runs in every phase (generation hooks such as `map_body` miss the coverage phase)."""
    if isinstance(case.body, dict):
        _keep_store_and_cross_field_rules(case.body)
        if case.method.upper() == "POST" and case.path == "/api/v1/budget/reservations":
            _keep_hold_rules(case.body)
        # The body's idempotency key and the header are one key; both given, they must agree.
        # The body gives way (an edit of the headers would disturb schemathesis's own
        # header checks, which remove headers on purpose).
        header = (case.headers or {}).get("Idempotency-Key")
        if isinstance(header, str) and case.body.get("idempotency_key") not in (None, header):
            del case.body["idempotency_key"]
    # Filters and lookups by reference (`GET /budget/remaining?agent_id=`) ask about the
    # fixtures too, so that they reach more than a 404.
    for field, known in REFERENCES.items():
        if case.query and _is_uuid(case.query.get(field)):
            case.query[field] = known
    # The fixture agent stays as registered: a PATCH that terminated it (or sent it on
    # leave) would turn every later reference to it into a rightful refusal.
    if case.method.upper() == "PATCH" and (case.path_parameters or {}).get("id") == AGENT:
        case.path_parameters["id"] = "00000000-0000-0000-0000-000000000000"
    # A stateful link whose source field is null (a key without an agent, a verdict without
    # an approval) has nothing to follow; schemathesis would put the text "None" in the
    # path. The nil UUID is the well-formed id of nothing, answered 404.
    for name, value in (case.path_parameters or {}).items():
        if value is None:
            case.path_parameters[name] = "00000000-0000-0000-0000-000000000000"


def _keep_store_and_cross_field_rules(body):
    for field, known in REFERENCES.items():
        if _is_uuid(body.get(field)):
            body[field] = known
    # A cost report may name a reservation; a random one does not exist (a rightful 422).
    if _is_uuid(body.get("reservation_id")):
        del body["reservation_id"]
    if isinstance(body.get("reserve"), dict):
        _keep_hold_rules(body["reserve"])
    agents = body.get("agents")
    if isinstance(agents, list):
        body["agents"] = [AGENT if _is_uuid(a) else a for a in agents]

    alerts = body.get("alerts")
    if isinstance(alerts, dict):
        given = {**ALERT_DEFAULTS, **alerts}
        if all(_is_number(given[k]) for k in ALERT_DEFAULTS):
            levels = sorted({given[k] for k in ALERT_DEFAULTS})
            if len(levels) == 3:
                alerts["warn"], alerts["critical"], alerts["hard_stop"] = levels

    for part, whole in (
        ("cache_read_input_tokens", "input_tokens"),
        ("cache_write_input_tokens", "input_tokens"),
        ("reasoning_output_tokens", "output_tokens"),
    ):
        if _is_number(body.get(part)) and _is_number(body.get(whole)) and body[part] > body[whole]:
            body[part] = body[whole]
    if _is_number(body.get("cache_read_input_tokens")) and _is_number(body.get("cache_write_input_tokens")):
        if _is_number(body.get("input_tokens")):
            spare = body["input_tokens"] - body["cache_read_input_tokens"]
            body["cache_write_input_tokens"] = min(body["cache_write_input_tokens"], spare)

    occurred = body.get("occurred_at")
    if isinstance(occurred, str):
        try:
            when = datetime.datetime.fromisoformat(occurred.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None and when.tzinfo is not None:
            now = datetime.datetime.now(datetime.timezone.utc)
            # budget.max_report_delay is 24 h by default.
            if not now - datetime.timedelta(hours=23) <= when <= now:
                body["occurred_at"] = now.isoformat()

    if body.get("to") == "assigned":
        if body.get("assigned_to") is None:
            body["assigned_to"] = AGENT
    elif _is_uuid(body.get("assigned_to")):
        del body["assigned_to"]

    _money_as_decimal_text(body)


def _keep_hold_rules(hold):
    """A hold gives an amount, or the four fields that price a catalogued model; the token
    maxima go together. A generated hold without an amount gets one (the catalogue lists
    the models it knows, which a generator cannot guess)."""
    if hold.get("amount") is None:
        hold["amount"] = "0.01"
    given = [hold.get(f) for f in ("max_input_tokens", "max_output_tokens")]
    if sum(g is not None for g in given) == 1 and all(g is None or _is_number(g) for g in given):
        hold.pop("max_input_tokens", None)
        hold.pop("max_output_tokens", None)
    _money_as_decimal_text(hold)


def _money_as_decimal_text(body):
    # A binary float cannot carry the decimal that `multipleOf: 1e-9` means: 7 × 1e-9 is
    # 7.000000000000001e-09, whose text the server rightly refuses as too precise. Such a
    # float becomes the decimal string it stands for, the other form the document allows.
    for field in MONEY:
        value = body.get(field)
        if isinstance(value, float) and value >= 0 and not value.is_integer():
            text = format(decimal.Decimal(value).quantize(decimal.Decimal("1e-9")), "f").rstrip("0").rstrip(".")
            body[field] = text
