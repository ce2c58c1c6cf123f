"""The plan audit page: findings of :func:`roamlike.audit.audit_plans`, filterable, with the
JSON (as ``roamlike audit --json`` prints it) and the self-contained HTML report to download."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

from roamlike.audit import SEVERITIES, STATUSES, Finding, audit_plans
from roamlike.errors import RoamlikeError, TariffError
from roamlike.law import Catalog
from roamlike.report.audit_html import render_audit_html
from roamlike.tariffs import FxTable, Plan
from roamlike.web.layout import e, error_box, page, select, text_input, upload_form, url
from roamlike.web.plans_input import decode_token, parse_plans_text
from roamlike.web.rules_page import default_day, parse_date

DEFAULT_DAY = "2026-03-01"


@dataclass(frozen=True)
class AuditQuery:
    """The audit page's state, read from the URL."""

    on: dt.date
    plans: Mapping[str, Plan]
    token: str
    status: str
    severity: str
    errors: tuple[str, ...]

    def link(self, path: str, **extra: str) -> str:
        """``path`` with this query's plans and date (and ``extra``) as parameters."""
        return url(path, {"plans": self.token, "on": self.on.isoformat(), **extra})


def read_query(
    params: Mapping[str, str], sample: Mapping[str, Plan], catalog: Catalog
) -> AuditQuery:
    """The audit's state from ``plans`` (token), ``on``, ``status`` and ``severity``."""
    errors: list[str] = []
    token = params.get("plans", "")
    plans: Mapping[str, Plan] = sample
    if token:
        try:
            plans = parse_plans_text(decode_token(token))
        except TariffError as exc:
            errors.append(str(exc))
            token = ""
    on = parse_date(params.get("on", DEFAULT_DAY), "audit date", errors) or default_day(catalog)
    status = params.get("status", "")
    severity = params.get("severity", "")
    if status and status not in STATUSES:
        errors.append(f"status: one of {', '.join(STATUSES)}, found {status!r}")
        status = ""
    if severity and severity not in SEVERITIES:
        errors.append(f"severity: one of {', '.join(SEVERITIES)}, found {severity!r}")
        severity = ""
    return AuditQuery(on, plans, token, status, severity, tuple(errors))


def findings_for(q: AuditQuery, fx: FxTable) -> list[Finding]:
    """Every finding for the query's plans on its date (no filter)."""
    return audit_plans(q.plans, q.on, fx)


def findings_json(findings: list[Finding]) -> str:
    """The findings as the JSON list ``roamlike audit --json`` prints."""
    return json.dumps([f.to_json() for f in findings], indent=2, ensure_ascii=False) + "\n"


def report_html(q: AuditQuery, findings: list[Finding], catalog: Catalog) -> str:
    """The self-contained HTML report, as ``roamlike audit --html`` writes it."""
    return render_audit_html(findings, q.plans, q.on, catalog)


def _form(q: AuditQuery) -> str:
    token = f'<input type="hidden" name="plans" value="{e(q.token)}">' if q.token else ""
    return (
        '<form class="query" method="get" action="/audit">'
        + token
        + text_input("on", "Audit date (rules in force)", q.on.isoformat(), "date", "required")
        + '<div class="field"><button type="submit">Audit</button></div></form>'
    )


def _table(q: AuditQuery, findings: list[Finding]) -> str:
    rows: list[str] = []
    shown = 0
    for f in findings:
        hidden = (q.status and f.status != q.status) or (q.severity and f.severity != q.severity)
        shown += 0 if hidden else 1
        rows.append(
            f'<tr data-status="{e(f.status)}" data-severity="{e(f.severity)}"'
            f"{' hidden' if hidden else ''}><td>{e(f.plan_id)}</td><td><code>{e(f.check)}"
            f'</code></td><td class="status-{e(f.status)}">{e(f.status)}</td>'
            f"<td>{e(f.severity)}</td><td>{e(f.expected)}</td><td>{e(f.found)}</td>"
            f"<td>{e(f.basis) or '–'}</td><td>{e(f.grade) or '–'}</td><td>{e(f.message)}</td></tr>"
        )
    filters = (
        '<form id="filters" class="query" method="get" action="/audit">'
        + (f'<input type="hidden" name="plans" value="{e(q.token)}">' if q.token else "")
        + f'<input type="hidden" name="on" value="{e(q.on.isoformat())}">'
        + select("status", "Status", [("", "any"), *((s, s) for s in STATUSES)], q.status)
        + select("severity", "Severity", [("", "any"), *((s, s) for s in SEVERITIES)], q.severity)
        + '<div class="field"><button type="submit" class="secondary">Filter</button></div>'
        "</form>"
    )
    n_fail = sum(1 for f in findings if f.status == "fail")
    return (
        f'<p><span id="shown-count">{shown}</span> of {len(findings)} findings shown; '
        f"{n_fail} fail. "
        f'<a id="download-json" href="{e(q.link("/audit/findings.json"))}" download>'
        "Download the findings (JSON)</a> · "
        f'<a id="download-html" href="{e(q.link("/audit/report.html"))}" download>'
        "Download the report (HTML)</a></p>"
        + filters
        + '<div class="scroll"><table id="findings"><caption>Findings</caption><thead><tr>'
        + "".join(
            f'<th scope="col">{h}</th>'
            for h in (
                "plan",
                "check",
                "status",
                "severity",
                "expected",
                "found",
                "basis",
                "grade",
                "message",
            )
        )
        + f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def render_audit(
    params: Mapping[str, str],
    sample: Mapping[str, Plan],
    fx: FxTable,
    catalog: Catalog,
    pasted: str = "",
    extra_errors: tuple[str, ...] = (),
) -> tuple[int, str]:
    """The audit page for the query parameters; returns (HTTP status, HTML)."""
    q = read_query(params, sample, catalog)
    errors = [*extra_errors, *q.errors]
    source = f"{len(q.plans)} uploaded plans" if q.token else "the illustrative sample plans"
    body = (
        error_box(errors)
        + f"<p>Auditing {e(source)} against the rules in force on the date.</p>"
        + _form(q)
        + upload_form(
            "/audit",
            {"on": q.on.isoformat()},
            pasted,
            "Audit your own plans (paste or upload a YAML or JSON plans file)",
            "Audit these plans",
        )
    )
    status = 400 if errors else 200
    try:
        findings = findings_for(q, fx)
        body += _table(q, findings)
    except RoamlikeError as exc:
        body += error_box([str(exc)])
        status = 422
    return status, page("Plan audit", body, "/audit")
