"""Reports: human-readable renderings of roamlike results (HTML pages, tables)."""

from roamlike.report.audit_html import render_audit_html

__all__ = ["render_audit_html"]
