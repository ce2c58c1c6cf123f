"""The tariff-audit report: one self-contained HTML page a regulator can read offline.

The page has inline CSS only: no scripts, fonts, images or links to other resources, so it opens
without a network and can be archived as a single file. Every text from plans or findings is
escaped with :func:`html.escape`. The output is deterministic: the same findings give the same
bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from html import escape

from roamlike.audit import SEVERITIES, Finding
from roamlike.law import Catalog, default_catalog
from roamlike.tariffs import Plan

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;
max-width:78rem;padding:0 1rem;color:#1b1f24;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:2px solid #d0d7de;padding-bottom:.2rem}h3{font-size:1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #d0d7de;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f5f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.status-pass{color:#116329;font-weight:600}.status-fail{color:#b3261e;font-weight:700}
.status-not_applicable{color:#57606a}
.sev-error{background:#ffebe9}.sev-warning{background:#fff8c5}
.badge{display:inline-block;padding:0 .4rem;border-radius:.6rem;font-size:.8rem;
border:1px solid #d0d7de}.muted{color:#57606a}code{font-size:.85em}
details{margin:.3rem 0 1rem}summary{cursor:pointer;color:#57606a}
footer{margin-top:3rem;border-top:1px solid #d0d7de;padding-top:.8rem;font-size:.85rem;
color:#3d444d}
@media print{details{display:block}summary{display:none}}
"""

_GRADES = (
    ("legal", "the legal text itself was read"),
    ("official", "an EU institution, BEREC, RCC or national regulator page was read, not the act"),
    ("secondary", "press, a blog or a third-party summary: a claim that needs checking"),
    (
        "inference",
        "a project decision where no source states the value (the pages of docs/law/); "
        "failures resting on it are warnings, not errors",
    ),
    (
        "hypothetical",
        "a value a what-if scenario puts in place of the law (roamlike simulate); not law",
    ),
)
_STATUS_LABEL = {"pass": "pass", "fail": "FAIL", "not_applicable": "n/a"}


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _anchor(plan_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in plan_id)
    return f"plan-{safe}"


def worst_severity(findings: Iterable[Finding]) -> str:
    """The most serious severity among findings that did not pass (``"none"`` if all passed).

    Examples
    --------
    >>> worst_severity([])
    'none'
    """
    worst = len(SEVERITIES)
    for f in findings:
        if f.status != "pass":
            worst = min(worst, SEVERITIES.index(f.severity))
    return SEVERITIES[worst] if worst < len(SEVERITIES) else "none"


def _is_shown(f: Finding) -> bool:
    """Findings shown in a plan's main table: passes, failures and checks not evaluated."""
    return f.status != "not_applicable" or f.severity != "info"


def _instruments(findings: Sequence[Finding], catalog: Catalog) -> list[tuple[str, str, str]]:
    cited: dict[str, None] = {}
    for f in findings:
        for part in f.basis.split("; "):
            ident = part.split(" ", 1)[0]
            if ident in catalog.instruments:
                cited.setdefault(ident)
    out = []
    for ident in sorted(cited):
        inst = catalog.instruments[ident]
        out.append(
            (
                ident,
                inst.title,
                f"{inst.reference}; status {inst.status}; known from {inst.grade} sources",
            )
        )
    return out


def _summary_rows(findings: Sequence[Finding], plans: Mapping[str, Plan]) -> list[str]:
    by_plan: dict[str, list[Finding]] = {}
    for f in findings:
        by_plan.setdefault(f.plan_id, []).append(f)
    order = list(plans) + [p for p in by_plan if p not in plans]
    rows = []
    for plan_id in order:
        fs = by_plan.get(plan_id, [])
        plan = plans.get(plan_id)
        counts = {
            s: sum(1 for f in fs if f.status == s) for s in ("pass", "fail", "not_applicable")
        }
        worst = worst_severity(fs)
        rows.append(
            f'<tr class="sev-{_e(worst)}"><td><a href="#{_e(_anchor(plan_id))}">{_e(plan_id)}'
            f"</a></td><td>{_e(plan.operator if plan else '')}</td>"
            f"<td>{_e(plan.home_country if plan else '')}</td>"
            f"<td>{_e(plan.currency if plan else '')}</td>"
            f'<td class="num">{counts["pass"]}</td><td class="num">{counts["fail"]}</td>'
            f'<td class="num">{counts["not_applicable"]}</td><td>{_e(worst)}</td></tr>'
        )
    return rows


def _finding_row(f: Finding) -> str:
    params = ", ".join(f.parameters)
    return (
        f'<tr class="sev-{_e(f.severity) if f.status != "pass" else "none"}">'
        f"<td><code>{_e(f.check)}</code></td>"
        f'<td class="status-{_e(f.status)}">{_e(_STATUS_LABEL.get(f.status, f.status))}</td>'
        f"<td>{_e(f.severity)}</td><td>{_e(f.expected)}</td><td>{_e(f.found)}</td>"
        f"<td>{_e(f.basis or '-')}"
        + (
            f'<br><span class="muted">parameters: <code>{_e(params)}</code></span>'
            if params
            else ""
        )
        + f'</td><td><span class="badge">{_e(f.grade or "-")}</span></td>'
        f"<td>{_e(f.message)}</td></tr>"
    )


def _plan_section(plan_id: str, plan: Plan | None, fs: Sequence[Finding]) -> list[str]:
    out = [f'<section id="{_e(_anchor(plan_id))}">']
    title = f"{plan_id}" + (f" - {plan.name}" if plan and plan.name else "")
    out.append(f"<h2>{_e(title)}</h2>")
    if plan is not None:
        vat = "incl. VAT" if plan.price_includes_vat else "excl. VAT"
        data = "unlimited" if plan.data_allowance_gb is None else f"{plan.data_allowance_gb} GB"
        out.append(
            f'<p class="muted">{_e(plan.operator or "operator not named")}; home '
            f"{_e(plan.home_country)}; {_e(plan.price)} {_e(plan.currency)} {vat} per "
            f"{_e(plan.billing_period)} billing period; domestic data {_e(data)}"
            + ("; EU-WB signatory's offer" if plan.eu_wb_signatory else "")
            + (f"<br>{_e(plan.notes)}" if plan.notes else "")
            + "</p>"
        )
    shown = [f for f in fs if _is_shown(f)]
    hidden = [f for f in fs if not _is_shown(f)]
    if shown:
        out.append(
            "<table><thead><tr><th>check</th><th>status</th><th>severity</th>"
            "<th>what the law requires</th><th>what the plan declares</th>"
            "<th>basis</th><th>grade</th><th>message</th></tr></thead><tbody>"
        )
        out.extend(_finding_row(f) for f in shown)
        out.append("</tbody></table>")
    else:
        out.append('<p class="muted">No check applies to this plan on this date.</p>')
    if hidden:
        out.append(
            f"<details><summary>{len(hidden)} checks not applicable</summary>"
            "<table><thead><tr><th>check</th><th>why not applicable</th><th>basis</th>"
            "<th>what the law requires</th></tr></thead><tbody>"
        )
        for f in hidden:
            out.append(
                f"<tr><td><code>{_e(f.check)}</code></td><td>{_e(f.message)}</td>"
                f"<td>{_e(f.basis or '-')}</td><td>{_e(f.expected)}</td></tr>"
            )
        out.append("</tbody></table></details>")
    out.append("</section>")
    return out


def render_audit_html(
    findings: Sequence[Finding],
    plans: Mapping[str, Plan],
    on: dt.date,
    catalog: Catalog | None = None,
) -> str:
    """Render audit findings as one self-contained HTML page.

    Parameters
    ----------
    findings : sequence of Finding
        As returned by :func:`roamlike.audit.audit_plans`.
    plans : mapping of str to Plan
        The audited plans (for names, operators and the order of the report).
    on : datetime.date
        The audit date.
    catalog : Catalog, optional
        For the titles of the instruments cited; the default catalog when omitted.

    Returns
    -------
    str
        A complete HTML5 document: summary table per plan (pass, fail and not-applicable
        counts, worst severity), then the findings of each plan with expected, found, basis,
        grade and message, the instruments cited, and a footer explaining the grades.
    """
    cat = catalog or default_catalog()
    total = len(findings)
    n_fail = sum(1 for f in findings if f.status == "fail")
    n_pass = sum(1 for f in findings if f.status == "pass")
    n_na = total - n_fail - n_pass
    n_err = sum(1 for f in findings if f.status == "fail" and f.severity == "error")
    n_unev = sum(1 for f in findings if f.status == "not_applicable" and f.severity != "info")
    day = on.isoformat()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Roaming tariff audit, rules in force on {_e(day)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header><h1>Roaming tariff compliance audit</h1>",
        f"<p>Rules in force on <strong>{_e(day)}</strong>. {len(plans)} plans, {total} "
        f"findings: {n_pass} pass, <strong>{n_fail} fail</strong> ({n_err} of severity "
        f"error), {n_na} not applicable"
        + (f", of which {n_unev} could not be evaluated (see their messages)" if n_unev else "")
        + ".</p></header>",
        "<h2>Summary</h2>",
        "<table><thead><tr><th>plan</th><th>operator</th><th>home</th><th>currency</th>"
        "<th>pass</th><th>fail</th><th>n/a</th><th>worst severity</th></tr></thead><tbody>",
        *_summary_rows(findings, plans),
        "</tbody></table>",
    ]
    by_plan: dict[str, list[Finding]] = {}
    for f in findings:
        by_plan.setdefault(f.plan_id, []).append(f)
    for plan_id in list(plans) + [p for p in by_plan if p not in plans]:
        parts.extend(_plan_section(plan_id, plans.get(plan_id), by_plan.get(plan_id, [])))
    instruments = _instruments(findings, cat)
    if instruments:
        parts.append(
            "<h2>Instruments cited</h2><table><thead><tr><th>id</th><th>title</th>"
            "<th>reference</th></tr></thead><tbody>"
        )
        parts.extend(
            f"<tr><td><code>{_e(i)}</code></td><td>{_e(t)}</td><td>{_e(r)}</td></tr>"
            for i, t, r in instruments
        )
        parts.append("</tbody></table>")
    parts.append(
        "<footer><p><strong>Status.</strong> pass: the plan meets the rule; FAIL: it "
        "breaches it; n/a: the rule does not reach the plan on this date, or the plan "
        "declares nothing and the engine applies the legal cap. An n/a of severity "
        "error or warning is a check that could not be evaluated (a missing exchange "
        "rate or a value not in force).</p><p><strong>Provenance grades</strong> of "
        "the values each finding rests on:</p><ul>"
    )
    parts.extend(f"<li><strong>{_e(g)}</strong>: {_e(text)}</li>" for g, text in _GRADES)
    parts.append(
        "</ul><p>Euro caps are converted to the plan currency under Regulation (EU) "
        "2022/612 Art. 1(4) with the exchange rates supplied by the user, and "
        "compared excluding VAT. Produced by roamlike. <strong>This report is not "
        "legal advice.</strong></p></footer></body></html>"
    )
    return "\n".join(parts) + "\n"
