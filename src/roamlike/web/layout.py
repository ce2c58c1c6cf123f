"""The page frame every view shares: head, navigation, escaping and small form helpers.

Pages are server-rendered HTML5 (the first view already shows the answer); the stylesheet and
the one script are served from the package (``/static``), never from a CDN.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from decimal import Decimal
from urllib.parse import urlencode

from roamlike import money

#: The navigation bar: (path, label).
NAV: tuple[tuple[str, str], ...] = (
    ("/rules", "Rules explorer"),
    ("/trip", "Trip calculator"),
    ("/audit", "Plan audit"),
    ("/dashboard", "Operator dashboard"),
    ("/story", "Western Balkans story"),
)


def e(value: object) -> str:
    """HTML-escape any value's text (quotes included, safe in attributes)."""
    return html.escape(str(value), quote=True)


def url(path: str, params: Mapping[str, str | None]) -> str:
    """``path`` with the non-empty ``params`` as its query string (keys in the given order)."""
    kept = [(k, v) for k, v in params.items() if v not in (None, "")]
    return path + ("?" + urlencode(kept) if kept else "")


def micros_text(micros: int) -> str:
    """Micro-units as an exact decimal with 6 places (``1234567`` -> ``1.234567``)."""
    return format(Decimal(micros).scaleb(-6), "f")


def eur_micros(micros: int, units_per_eur: Decimal) -> int:
    """An amount in a plan currency converted to euro micro-units (rounded by ``money``)."""
    return money.to_micros(Decimal(micros).scaleb(-6) / units_per_eur)


def page(
    title: str, body: str, active: str = "", status_text: str = "", head_extra: str = ""
) -> str:
    """A complete HTML document with the shared head, skip link, navigation and footer.

    Parameters
    ----------
    title : str
        The document title and the page's ``h1``.
    body : str
        Trusted HTML of the main content (callers escape what users supply).
    active : str
        The path of the navigation entry to mark as the current page.
    status_text : str
        Optional text for a polite live region (announced by screen readers).
    head_extra : str
        Trusted markup added to the ``<head>`` (e.g. a refresh).
    """
    current = ' aria-current="page"'
    links = "".join(
        f'<li><a href="{path}"{current if path == active else ""}>{e(label)}</a></li>'
        for path, label in NAV
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · roamlike</title>"
        '<link rel="stylesheet" href="/static/style.css">'
        f'<script src="/static/app.js" defer></script>{head_extra}</head><body>'
        '<a class="skip" href="#main">Skip to content</a>'
        '<header class="top"><a class="brand" href="/rules">roamlike</a>'
        f'<nav aria-label="Main"><ul>{links}</ul></nav></header>'
        f'<main id="main" tabindex="-1"><h1>{e(title)}</h1>'
        f'<p class="sr-only" role="status" aria-live="polite">{e(status_text)}</p>'
        f"{body}</main>"
        '<footer class="foot"><p>roamlike: roaming regulation as cited, dated rules. '
        "Every figure shows its legal basis and provenance grade "
        "(legal, official, secondary, inference). This is not legal advice.</p></footer>"
        "</body></html>\n"
    )


def select(
    name: str,
    label: str,
    options: Iterable[tuple[str, str]],
    chosen: str,
    field_id: str | None = None,
) -> str:
    """A labelled ``<select>``; ``options`` are (value, text) pairs."""
    fid = field_id or name
    opts = "".join(
        f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(t)}</option>'
        for v, t in options
    )
    return (
        f'<div class="field"><label for="{e(fid)}">{e(label)}</label>'
        f'<select id="{e(fid)}" name="{e(name)}">{opts}</select></div>'
    )


def text_input(
    name: str,
    label: str,
    value: str,
    kind: str = "text",
    extra: str = "",
    hint: str = "",
) -> str:
    """A labelled ``<input>`` (``kind`` is its type: text, date, number)."""
    described = f' aria-describedby="{e(name)}-hint"' if hint else ""
    hint_html = f'<small id="{e(name)}-hint">{e(hint)}</small>' if hint else ""
    return (
        f'<div class="field"><label for="{e(name)}">{e(label)}</label>'
        f'<input id="{e(name)}" name="{e(name)}" type="{e(kind)}" value="{e(value)}"'
        f"{described} {extra}>{hint_html}</div>"
    )


def error_box(messages: Iterable[str]) -> str:
    """An alert listing what the user must fix (empty string when there is nothing)."""
    items = "".join(f"<li>{e(m)}</li>" for m in messages)
    if not items:
        return ""
    return f'<div class="error" role="alert"><p>Please check:</p><ul>{items}</ul></div>'


def upload_form(
    action: str, hidden: Mapping[str, str], text: str, summary: str, button: str
) -> str:
    """The paste/upload form for a plans file (POST to ``action``, which answers with a link).

    The file picker needs the page's script to copy the file into the text box; without the
    script, pasting works alone.
    """
    fields = "".join(
        f'<input type="hidden" name="{e(k)}" value="{e(val)}">' for k, val in hidden.items()
    )
    return (
        '<details class="upload"' + (" open" if text else "") + f"><summary>{e(summary)}</summary>"
        f'<form method="post" action="{e(action)}" class="query">{fields}'
        '<div class="field wide"><label for="plans-file">Plans file</label>'
        '<input id="plans-file" type="file" accept=".yaml,.yml,.json,text/yaml,'
        'application/json" data-target="plans_text">'
        '<small id="plans_text-note" aria-live="polite"></small></div>'
        '<div class="field wide"><label for="plans_text">Plans (YAML or JSON)</label>'
        f'<textarea id="plans_text" name="plans_text" rows="8">{e(text)}</textarea></div>'
        f'<div class="field"><button type="submit">{e(button)}</button></div>'
        "</form></details>"
    )
