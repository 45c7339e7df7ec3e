"""The README's tour, through a Python client generated from the served OpenAPI document
(openapi-python-client). Run by tests/it/contract.rs with the generated package on
PYTHONPATH; SYNTHORG_URL is the server's root, SYNTHORG_KEY an admin key.

Every step goes through the generated functions and models, and checks the parsed answer:
if the document and the wire disagreed (an enum spelling, a field's type, a status the
document does not list) the generated code would raise or return no model, and this fails.
"""

import os
import sys
from decimal import Decimal

from synthorg_client import AuthenticatedClient, Client
from synthorg_client.api.agents import get_agent, register_agent
from synthorg_client.api.approvals import decide_approval, list_approvals
from synthorg_client.api.budget import create_reservation, get_budget_status, set_budget_config
from synthorg_client.api.costs import get_prices, report_cost
from synthorg_client.api.health import get_health
from synthorg_client.api.keys import create_key
from synthorg_client.api.security import evaluate_action
from synthorg_client.api.tasks import create_task, get_task, transition_task
from synthorg_client.models import (
    AgentStatus,
    ApprovalStatus,
    BudgetConfig,
    CostSource,
    CreateAgent,
    CreateAgentKey,
    CreateAgentKeyRole,
    CreateReservation,
    CreateTask,
    DecideApproval,
    Decision,
    ErrorBody,
    EvaluateAction,
    ReportCost,
    TaskStatus,
    TransitionBody,
    Verdict,
)

URL = os.environ["SYNTHORG_URL"]
admin = AuthenticatedClient(base_url=URL, token=os.environ["SYNTHORG_KEY"], raise_on_unexpected_status=True)


def ok(response, status, model):
    """The answer has `status` and parsed into `model`; returns the parsed model."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert isinstance(response.parsed, model), (type(response.parsed), response.content[:500])
    return response.parsed


assert ok(get_health.sync_detailed(client=Client(base_url=URL)), 200, object).status == "ok"

# Register an agent and give it its own key.
agent = ok(
    register_agent.sync_detailed(client=admin, body=CreateAgent(name="ada", role="developer", department="eng")),
    201,
    object,
)
assert agent.status == AgentStatus.ACTIVE and agent.name == "ada"
created = ok(
    create_key.sync_detailed(
        client=admin, body=CreateAgentKey(role=CreateAgentKeyRole.AGENT, agent_id=agent.id, label="ada runtime")
    ),
    201,
    object,
)
assert created.key and created.agent_id == agent.id
ada = AuthenticatedClient(base_url=URL, token=created.key, raise_on_unexpected_status=True)
assert ok(get_agent.sync_detailed(agent.id, client=ada), 200, object).id == agent.id

# Create a task and move it through its lifecycle; the agent's own key does its part.
task = ok(create_task.sync_detailed(client=admin, body=CreateTask(title="write the release notes")), 201, object)
assert task.status == TaskStatus.CREATED
moved = ok(
    transition_task.sync_detailed(
        task.id, client=admin, body=TransitionBody(to=TaskStatus.ASSIGNED, assigned_to=agent.id)
    ),
    200,
    object,
)
assert moved.task.status == TaskStatus.ASSIGNED and moved.task.version == 2
ok(
    transition_task.sync_detailed(task.id, client=ada, body=TransitionBody(to=TaskStatus.IN_PROGRESS, expected_version=2)),
    200,
    object,
)
refused = ok(transition_task.sync_detailed(task.id, client=ada, body=TransitionBody(to=TaskStatus.COMPLETED)), 409, ErrorBody)
assert "in_review" in refused.error.message, refused.error.message
ok(transition_task.sync_detailed(task.id, client=ada, body=TransitionBody(to=TaskStatus.IN_REVIEW)), 200, object)
ok(transition_task.sync_detailed(task.id, client=admin, body=TransitionBody(to=TaskStatus.COMPLETED)), 200, object)
assert ok(get_task.sync_detailed(task.id, client=ada), 200, object).status == TaskStatus.COMPLETED

# Report model calls: priced by synthorg, and a reported cost kept beside its own figure.
computed = ok(
    report_cost.sync_detailed(
        client=ada,
        body=ReportCost(
            agent_id=agent.id,
            task_id=task.id,
            provider="anthropic",
            model="claude-sonnet-4-5",
            input_tokens=6000,
            output_tokens=300,
            cache_read_input_tokens=5000,
            idempotency_key="call-1",
        ),
    ),
    201,
    object,
)
assert computed.cost_source == CostSource.COMPUTED and computed.price_version
assert Decimal(str(computed.cost)) == Decimal("0.009"), computed.cost
reported = ok(
    report_cost.sync_detailed(
        client=ada,
        body=ReportCost(
            agent_id=agent.id, provider="openai", model="gpt-4.1", input_tokens=1200, output_tokens=300, cost="0.0048"
        ),
    ),
    201,
    object,
)
assert reported.cost_source == CostSource.REPORTED and not reported.cost_disagrees
prices = ok(get_prices.sync_detailed(client=ada, provider="anthropic"), 200, object)
assert prices.models and all(m.provider == "anthropic" for m in prices.models)

# Set a budget and look at spend.
config = ok(set_budget_config.sync_detailed(client=admin, body=BudgetConfig(total_monthly=500, reset_day=1)), 200, object)
assert Decimal(str(config.total_monthly)) == 500 and config.reset_day == 1
status = ok(get_budget_status.sync_detailed(client=admin), 200, object)
assert Decimal(str(status.period_spend)) == Decimal("0.0138"), status.period_spend

# Hold a call's worst case before making it; the report that names the hold settles it.
held = ok(
    create_reservation.sync_detailed(
        client=ada,
        body=CreateReservation(
            agent_id=agent.id, provider="anthropic", model="claude-sonnet-4-5", max_input_tokens=8000, max_output_tokens=1000
        ),
    ),
    201,
    object,
)
assert Decimal(str(held.amount)) == Decimal("0.045") and held.tokens == 9000, held
settled = ok(
    report_cost.sync_detailed(
        client=ada,
        body=ReportCost(
            agent_id=agent.id,
            provider="anthropic",
            model="claude-sonnet-4-5",
            input_tokens=4000,
            output_tokens=500,
            reservation_id=held.id,
        ),
    ),
    201,
    object,
)
assert Decimal(str(settled.cost)) == Decimal("0.0195") and settled.reservation_id == held.id, settled

# Ask for a verdict before a risky tool call: DROP TABLE escalates; an admin decides.
arguments = {"sql": "DROP TABLE customers"}
verdict = ok(
    evaluate_action.sync_detailed(
        client=ada, body=EvaluateAction(agent_id=agent.id, tool="db", action_type="execute", arguments=arguments)
    ),
    200,
    object,
)
assert verdict.verdict == Verdict.ESCALATE and verdict.approval_id, verdict
pending = ok(list_approvals.sync_detailed(client=admin, status=ApprovalStatus.PENDING), 200, object)
assert [a.id for a in pending.items] == [verdict.approval_id]
decided = ok(
    decide_approval.sync_detailed(
        verdict.approval_id, client=admin, body=DecideApproval(decision=Decision.APPROVE, note="one-off cleanup")
    ),
    200,
    object,
)
assert decided.status == ApprovalStatus.APPROVED

# Prometheus scrapes this, no key needed.
with Client(base_url=URL).get_httpx_client() as http:
    scrape = http.get("/api/v1/metrics")
assert scrape.status_code == 200
assert 'synthorg_security_evaluations_total{verdict="escalate"' in scrape.text, scrape.text[:2000]

print("tour: ok", file=sys.stderr)
