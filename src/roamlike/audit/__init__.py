"""Compliance audit of tariff plans against the roaming rules in force on a date.

Public API::

    audit_plans(plans, on, fx=None) -> list[Finding]   one finding per plan and check
    CHECKS                                             the stable check ids, in report order
"""

from roamlike.audit.checks import (
    CHECKS,
    SEVERITIES,
    STATUSES,
    Finding,
    Severity,
    Status,
    audit_plan,
    audit_plans,
    has_errors,
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
