"""The audit HTML report: self-contained, escaped, with a summary table and every basis."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

from roamlike.audit import Finding, audit_plans
from roamlike.report import render_audit_html
from roamlike.tariffs import FxTable, load_plans

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ON = dt.date(2026, 3, 1)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _render() -> tuple[str, list[Finding]]:
    plans = load_plans(EXAMPLES / "plans_illustrative.yaml")
    fx = FxTable.from_csv(EXAMPLES / "fx_illustrative.csv")
    findings = audit_plans(plans, ON, fx)
    return render_audit_html(findings, plans, ON), findings


def test_summary_table_lists_every_plan_with_counts() -> None:
    page, findings = _render()
    assert page.startswith("<!DOCTYPE html>")
    assert "<h2>Summary</h2>" in page
    summary = page.split("<h2>Summary</h2>", 1)[1].split("</table>", 1)[0]
    for head in ("pass", "fail", "n/a", "worst severity"):
        assert f"<th>{head}</th>" in summary
    plan_ids = dict.fromkeys(f.plan_id for f in findings)
    for plan_id in plan_ids:
        assert f'href="#plan-{plan_id}"' in summary
        assert f'id="plan-{plan_id}"' in page
    row = re.search(r'<tr class="sev-error"><td><a href="#plan-at_billshock_60">.*?</tr>', summary)
    assert row is not None
    assert "<td>error</td>" in row.group(0)


def test_a_failed_finding_shows_expected_found_basis_and_grade() -> None:
    page, findings = _render()
    (f,) = [
        f
        for f in findings
        if f.plan_id == "at_billshock_60" and f.check == "billshock.default_limit"
    ]
    section = page.split('id="plan-at_billshock_60"', 1)[1].split("</section>", 1)[0]
    assert "billshock.default_limit" in section
    assert "FAIL" in section
    assert f.basis == "eu_2022_612 Art. 14(4)"
    assert f.basis in section
    assert "60 EUR excl. VAT" in section
    assert '<span class="badge">legal</span>' in section
    # the instruments cited are listed with their titles
    assert "Regulation (EU) 2022/612 of 6 April 2022" in page


def test_footer_explains_grades_and_disclaims_legal_advice() -> None:
    page, _ = _render()
    footer = page.split("<footer>", 1)[1]
    for grade in ("legal", "official", "secondary", "inference"):
        assert f"<strong>{grade}</strong>" in footer
    assert "not legal advice" in footer


def test_page_is_self_contained() -> None:
    page, _ = _render()
    parser = _Collector()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert tag not in ("script", "link", "img", "iframe", "object", "embed"), tag
        for name in ("src", "href", "action"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
    assert "http://" not in page
    assert "https://" not in page
    assert "@import" not in page
    assert "url(" not in page


def test_text_is_escaped() -> None:
    plans = load_plans(EXAMPLES / "plans_illustrative.yaml")
    finding = Finding(
        plan_id="de_unlimited_ok",
        check="charging.data",
        status="fail",
        severity="error",
        expected="<b>per kB</b>",
        found='"1000 kB" & more',
        basis="eu_2022_612 Art. 8(1)",
        grade="legal",
        message="<script>alert(1)</script>",
    )
    page = render_audit_html([finding], plans, ON)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;per kB&lt;/b&gt;" in page
    assert "&quot;1000 kB&quot; &amp; more" in page


def test_rendering_is_deterministic() -> None:
    first, _ = _render()
    second, _ = _render()
    assert first == second
