"""Kubernetes resource quantities (`500m`, `4`, `8Gi`) as exact numbers, and back.

Pure: the admission ledger adds up the quotas of a tenant's sandboxes in millicores, bytes and
pods and compares the sums with the tenant's budget (reconcile/admission.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX = {
    None: Fraction(1), "m": Fraction(1, 1000), "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9),
    "T": Fraction(10**12), "P": Fraction(10**15), "E": Fraction(10**18), "Ki": Fraction(2**10),
    "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40), "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}
_BINARY = [("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)]


def parse_quantity(text: str) -> Fraction:
    """Return the exact value of a quantity; raise ValueError naming it when it is not one."""
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)")
    return Fraction(match.group(1)) * _SUFFIX[match.group(2)]


def format_cpu(millicores: int) -> str:
    """Return millicores as Kubernetes writes CPU: whole cores (`4`) or millicores (`1500m`)."""
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def format_memory(size: int) -> str:
    """Return bytes in the largest binary unit that divides them exactly (`8Gi`, `1536Mi`)."""
    for suffix, unit in _BINARY:
        if size and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


@dataclass(frozen=True, order=True)
class Amounts:
    """CPU in millicores, memory in bytes, and pods: what a sandbox's quota reserves."""

    cpu: int = 0
    memory: int = 0
    pods: int = 0

    @classmethod
    def of(cls, cpu: str, memory: str, pods: int) -> Amounts:
        """Return the amounts of a quota (cpu and memory as quantities)."""
        return cls(math.ceil(parse_quantity(cpu) * 1000), math.ceil(parse_quantity(memory)), int(pods))

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.cpu + other.cpu, self.memory + other.memory, self.pods + other.pods)

    def __sub__(self, other: Amounts) -> Amounts:
        return Amounts(self.cpu - other.cpu, self.memory - other.memory, self.pods - other.pods)

    def wire(self) -> dict[str, str | int]:
        """Return the amounts as the API writes them (`cpu: "4"`, `memory: 8Gi`, `pods: 20`)."""
        return {"cpu": format_cpu(self.cpu), "memory": format_memory(self.memory), "pods": self.pods}


@dataclass(frozen=True)
class Limit:
    """An upper bound on Amounts: None in a field means no bound on that resource."""

    cpu: int | None = None
    memory: int | None = None
    pods: int | None = None

    @classmethod
    def of(cls, cpu: str | None, memory: str | None, pods: int | None) -> Limit:
        """Return the limit of a budget (any field may be unset)."""
        return cls(None if cpu is None else math.floor(parse_quantity(cpu) * 1000),
                   None if memory is None else math.floor(parse_quantity(memory)), pods)

    def excess(self, amounts: Amounts) -> list[str]:
        """Return what `amounts` needs beyond this limit, one `cpu 4 > 2` item per resource."""
        out = []
        if self.cpu is not None and amounts.cpu > self.cpu:
            out.append(f"cpu {format_cpu(amounts.cpu)} > {format_cpu(self.cpu)}")
        if self.memory is not None and amounts.memory > self.memory:
            out.append(f"memory {format_memory(amounts.memory)} > {format_memory(self.memory)}")
        if self.pods is not None and amounts.pods > self.pods:
            out.append(f"pods {amounts.pods} > {self.pods}")
        return out
