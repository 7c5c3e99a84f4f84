"""Admission into a tenant's grant: which sandboxes run, which wait and in what order, which are refused.

Pure. The controller (controller/admission.py) reads the SandboxTenant, whose status holds the
ledger (the admitted set and the queue), and every SandboxEnvironment of the tenant; it turns
each into a `Claim` with `claim_from()`, calls `decide()`, and writes the new ledger only if the
tenant's resourceVersion is still the one it read (a 409 means: read both again and decide
again). The admitted set therefore lives in the API server and only ever grows by a write
checked against the version it was computed from: concurrent passes, two replicas or an
operator killed at any moment can never admit past `maxSandboxes` or the budget.

The rules, in order:
1. A seat in the ledger is kept while its sandbox exists (same uid), is not being deleted, has
   not expired and is not asleep; otherwise it is released. Seats are never taken away from a
   running sandbox, even when the tenant's limits are lowered.
2. A sandbox that runs already but is missing from the ledger (made before the SandboxTenant
   existed, or by an operator without admission) is adopted: seated whatever the limits.
3. The others that want to run are ordered by priority (higher first), then by when they asked
   (creation, or the wake request of a sleeping sandbox), then by namespace/name, and seated in
   that order while a seat and the budget are free. The first that does not fit stops the line
   (strict order: a big sandbox is not overtaken by smaller ones behind it).
4. The rest wait in that order (`overflow: Queue`, at most `maxQueued`; one more is refused
   with QueueFull), or are refused at once (`overflow: Reject`, TenantFull). A sandbox already
   in the queue keeps its place whatever the tenant changes. One whose quota exceeds the whole
   budget can never fit and is refused (BudgetTooSmall), so it never blocks the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from sandlot.api.v1alpha1 import SandboxEnvironment, SandboxTenantSpec
from sandlot.reconcile.lifetime import expiry, format_time
from sandlot.reconcile.quantity import Amounts, Limit
from sandlot.reconcile.tenancy import Refusal, check_tenant

#: The annotation that asks a sleeping sandbox to wake (`kubectl annotate sbx NAME sandlot.dev/wake=now`).
WAKE_ANNOTATION = "sandlot.dev/wake"
#: Reasons this module refuses a sandbox with; such a refusal holds until the spec changes.
REFUSED_REASONS = frozenset({"TenantFull", "QueueFull", "BudgetTooSmall", "PriorityUnknown"})


@dataclass(frozen=True)
class Claim:
    """One SandboxEnvironment as admission sees it."""

    key: str
    uid: str
    created: str
    #: Not being deleted and not expired.
    present: bool = True
    #: Asleep, and no wake asked for: it holds no seat.
    asleep: bool = False
    #: Provisioned before (adopted when the ledger does not know it).
    running: bool = False
    priority: int = 0
    #: When it asked to run: its creation, or its wake request.
    requested_at: str = ""
    amounts: Amounts = field(default_factory=Amounts)
    #: status.admittedAt: kept through sleep and revival (the ttl counts from it).
    admitted_at: str | None = None
    #: Why it may not run at all (invalid spec, the tenant's grant, an unknown priority).
    refusal: Refusal | None = None
    #: Already refused by these rules for its current generation.
    refused: bool = False

    @property
    def order(self) -> tuple[int, str, str]:
        return (-self.priority, self.requested_at or self.created, self.key)


@dataclass(frozen=True)
class Seat:
    """An admitted sandbox in the ledger."""

    key: str
    uid: str
    admitted_at: str
    priority: int
    amounts: Amounts

    def wire(self) -> dict[str, Any]:
        return {"sandbox": self.key, "uid": self.uid, "admittedAt": self.admitted_at, "priority": self.priority,
                **self.amounts.wire()}


@dataclass(frozen=True)
class Place:
    """A waiting sandbox in the ledger's queue."""

    key: str
    uid: str
    priority: int = 0

    def wire(self) -> dict[str, Any]:
        return {"sandbox": self.key, "uid": self.uid, "priority": self.priority}


@dataclass(frozen=True)
class Ledger:
    """The admitted set and the queue, as stored in the SandboxTenant's status."""

    seats: tuple[Seat, ...] = ()
    queue: tuple[Place, ...] = ()

    @classmethod
    def from_status(cls, status: dict[str, Any] | None) -> Ledger:
        """Read the ledger from a tenant's status (missing or partial status: empty)."""
        status = status or {}
        seats = tuple(Seat(e["sandbox"], e["uid"], e["admittedAt"], int(e.get("priority", 0)),
                           Amounts.of(e.get("cpu", "0"), e.get("memory", "0"), e.get("pods", 0)))
                      for e in status.get("admitted") or [])
        queue = tuple(Place(e["sandbox"], e["uid"], int(e.get("priority", 0))) for e in status.get("queue") or [])
        return cls(seats, queue)

    def seat(self, key: str, uid: str) -> Seat | None:
        """Return the seat of a sandbox (matching uid), or None."""
        return next((s for s in self.seats if s.key == key and s.uid == uid), None)

    def place(self, key: str, uid: str) -> int | None:
        """Return the 1-based queue position of a sandbox (matching uid), or None."""
        return next((i for i, p in enumerate(self.queue, 1) if p.key == key and p.uid == uid), None)


@dataclass(frozen=True)
class Admitted:
    admitted_at: str


@dataclass(frozen=True)
class Queued:
    position: int
    length: int
    waiting_for: str


Verdict = Admitted | Queued | Refusal


@dataclass(frozen=True)
class Decision:
    """The outcome of one pass: the new ledger, a verdict per sandbox, and the tenant's figures."""

    ledger: Ledger
    verdicts: dict[str, Verdict]
    sleeping: int
    used: Amounts
    waiting_for: str | None

    def status(self) -> dict[str, Any]:
        """Return the tenant status this decision writes (None removes a field in a merge patch)."""
        return {
            "active": len(self.ledger.seats), "queued": len(self.ledger.queue), "sleeping": self.sleeping,
            "budgetUsed": self.used.wire(), "waitingFor": self.waiting_for,
            "admitted": [s.wire() for s in self.ledger.seats], "queue": [p.wire() for p in self.ledger.queue],
        }


def priority_of(spec_priority: str | None, tenant: SandboxTenantSpec) -> int | None:
    """Return the value of the priority level a sandbox names (its tenant's default when it names none).

    None when it names a level the tenant does not define.
    """
    levels = {p.name: p.value for p in tenant.priorities}
    name = spec_priority or tenant.defaultPriority
    if name is None:
        return 0
    return levels.get(name)


def claim_from(body: dict[str, Any], tenant: SandboxTenantSpec, tenant_name: str, now: datetime) -> Claim:
    """Return the Claim of one SandboxEnvironment body (as the API returns it)."""
    meta = body["metadata"]
    status = body.get("status") or {}
    key = f"{meta['namespace']}/{meta['name']}"
    created = meta["creationTimestamp"]
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready = conditions.get("Ready") or {}
    refused = (ready.get("reason") in REFUSED_REASONS and status.get("phase") == "Failed"
               and status.get("observedGeneration") == meta.get("generation"))
    sleeping = bool(status.get("sleepingSince"))
    wake = WAKE_ANNOTATION in (meta.get("annotations") or {})
    base = {"key": key, "uid": meta.get("uid", ""), "created": created, "refused": refused,
            "present": not meta.get("deletionTimestamp"), "asleep": sleeping and not wake,
            "running": (status.get("phase") in ("Provisioning", "Ready", "Failed") and bool(status.get("namespace"))
                        and not sleeping),
            "requested_at": (status.get("wakeRequestedAt") or format_time(now)) if sleeping else created,
            "admitted_at": status.get("admittedAt")}
    try:
        model = SandboxEnvironment.model_validate({"spec": body.get("spec") or {}})
    except ValidationError:
        return Claim(**base, refusal=Refusal("InvalidSpec", "the spec is invalid; see its status"))
    spec = model.spec
    ends = expiry(created=created, admitted_at=status.get("admittedAt"), ttl=spec.ttl, tenant=tenant,
                  tenant_name=tenant_name).at
    if ends is not None and now >= ends:
        base["present"] = False
    amounts = Amounts.of(spec.quota.cpu, spec.quota.memory, spec.quota.pods)
    refusal = check_tenant(model, tenant, cr_namespace=meta["namespace"])
    priority = priority_of(spec.priority, tenant)
    if priority is None:
        levels = ", ".join(p.name for p in tenant.priorities) or "none defined"
        priority = 0
        refusal = refusal or Refusal(
            "PriorityUnknown", f"spec.priority: {spec.priority!r} is not a priority level of tenant {tenant_name!r} "
                               f"(levels: {levels}); name one of them or remove spec.priority")
    return Claim(**base, priority=priority, amounts=amounts, refusal=refusal)


def queued_message(tenant_name: str, verdict: Queued) -> str:
    """Return what a waiting sandbox's Ready condition says: its place and what the line waits for."""
    return (f"position {verdict.position} of {verdict.length} in tenant {tenant_name!r}'s queue, waiting for "
            f"{verdict.waiting_for}; it starts on its own when its turn comes")


def decide(tenant_name: str, tenant: SandboxTenantSpec, ledger: Ledger, claims: list[Claim],
           now: datetime) -> Decision:
    """Return the new ledger and each sandbox's verdict (see the module docstring for the rules)."""
    by_key = {c.key: c for c in claims}
    stamp = format_time(now)

    def live(key: str, uid: str) -> Claim | None:
        c = by_key.get(key)
        return c if c is not None and c.uid == uid and c.present and not c.asleep else None

    seats: list[Seat] = []
    verdicts: dict[str, Verdict] = {}
    for seat in ledger.seats:
        c = live(seat.key, seat.uid)
        if c is not None:
            seats.append(Seat(c.key, c.uid, seat.admitted_at, c.priority, c.amounts))
            verdicts[c.key] = Admitted(seat.admitted_at)
    was_queued = {p.key for p in ledger.queue if live(p.key, p.uid)}
    candidates = []
    for c in claims:
        if not c.present or c.asleep or c.key in verdicts or c.refused:
            continue
        if c.refusal is not None:
            verdicts[c.key] = c.refusal
        elif c.running and c.key not in was_queued:
            admitted_at = c.admitted_at or c.created
            seats.append(Seat(c.key, c.uid, admitted_at, c.priority, c.amounts))
            verdicts[c.key] = Admitted(admitted_at)
        else:
            candidates.append(c)

    budget = tenant.budget
    limit = Limit.of(budget.cpu, budget.memory, budget.pods) if budget is not None else Limit()
    used = sum((s.amounts for s in seats), Amounts())
    blocked: str | None = None
    waiting: list[Claim] = []
    for c in sorted(candidates, key=lambda c: c.order):
        never = limit.excess(c.amounts)
        if never:
            verdicts[c.key] = Refusal(
                "BudgetTooSmall",
                f"spec.quota: the sandbox needs more than tenant {tenant_name!r}'s whole budget "
                f"({'; '.join(never)}); lower spec.quota or ask the platform team to raise the budget")
            continue
        if blocked is None:
            over = limit.excess(used + c.amounts)
            if len(seats) >= tenant.maxSandboxes:
                blocked = (f"a free slot ({len(seats)} of maxSandboxes {tenant.maxSandboxes} active; "
                           "sleeping sandboxes do not count)")
            elif over:
                free = Amounts(*(max(0, lim - u) if lim is not None else 0
                                 for lim, u in ((limit.cpu, used.cpu), (limit.memory, used.memory),
                                                (limit.pods, used.pods))))
                blocked = (f"budget: {c.key} needs cpu {c.amounts.wire()['cpu']}, memory "
                           f"{c.amounts.wire()['memory']}, pods {c.amounts.pods} and the budget has "
                           f"{_free_text(limit, free)} free")
            else:
                admitted_at = c.admitted_at or stamp
                seats.append(Seat(c.key, c.uid, admitted_at, c.priority, c.amounts))
                verdicts[c.key] = Admitted(admitted_at)
                used = used + c.amounts
                continue
        waiting.append(c)

    queue: list[Claim] = []
    room = tenant.maxQueued - sum(1 for c in waiting if c.key in was_queued)
    for c in waiting:
        if c.key in was_queued:
            queue.append(c)
        elif tenant.overflow == "Reject":
            verdicts[c.key] = Refusal(
                "TenantFull", f"tenant {tenant_name!r} has no room now (waiting for {blocked}) and its overflow is "
                              "Reject; delete one of its sandboxes, then re-create this one (or change its spec)")
        elif room > 0:
            queue.append(c)
            room -= 1
        else:
            verdicts[c.key] = Refusal(
                "QueueFull", f"tenant {tenant_name!r} already has {tenant.maxQueued} sandboxes waiting "
                             f"(maxQueued {tenant.maxQueued}); delete a waiting sandbox, then re-create this one "
                             "(or change its spec)")
    for i, c in enumerate(queue, 1):
        verdicts[c.key] = Queued(i, len(queue), blocked or "")
    sleeping = sum(1 for c in claims if c.present and c.asleep)
    return Decision(Ledger(tuple(seats), tuple(Place(c.key, c.uid, c.priority) for c in queue)), verdicts,
                    sleeping, used, blocked if queue else None)


def _free_text(limit: Limit, free: Amounts) -> str:
    """Return `cpu 2, memory 4Gi` for the resources the budget limits."""
    wire = free.wire()
    parts = [f"{name} {wire[name]}" for name in ("cpu", "memory", "pods") if getattr(limit, name) is not None]
    return ", ".join(parts)
