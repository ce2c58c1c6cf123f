"""Compliance audit of tariff plans against the roaming rules in force on a date.

Public API::

    audit_plans(plans, on, fx=None) -> list[Finding]   one finding per plan and check
    CHECKS                                             the stable check ids, in report order

Modules: ``checks`` (the list of checks and the run), ``context`` (the finding, the rules a plan
reaches, shared helpers) and one module per rule family: ``fair_use``, ``surcharges``,
``retail_caps``, ``billshock``, ``offers``, ``charging``.
"""

from roamlike.audit.checks import CHECKS, audit_plan, audit_plans, has_errors
from roamlike.audit.context import (
    SEVERITIES,
    STATUSES,
    Finding,
    Severity,
    Status,
    weakest_grade,
)

__all__ = [
    "CHECKS",
    "SEVERITIES",
    "STATUSES",
    "Finding",
    "Severity",
    "Status",
    "audit_plan",
    "audit_plans",
    "has_errors",
    "weakest_grade",
]
