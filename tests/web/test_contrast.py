"""Contrast measured on the rendered pages: every visible text's colour against the background
it is drawn on (WCAG 2.x relative luminance), at least 4.5:1 as for normal-size text."""

from __future__ import annotations

import re

import pytest
from browser_support import *  # noqa: F403  (the fixtures)

from roamlike.web.rules_page import REGIME_COLOURS

pytestmark = pytest.mark.browser
MIN_RATIO = 4.5

#: For each element with its own visible text: [tag, text, colour, the first opaque background
#: up its ancestors (white at the root)]; the colours as the browser computed them.
TEXT_COLOURS = """
const out = [];
const bg = (el) => {
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
    const c = getComputedStyle(n).backgroundColor;
    if (c && !/rgba\\(.*,\\s*0\\)$/.test(c) && c !== 'transparent') return c;
  }
  return 'rgb(255, 255, 255)';
};
for (const el of document.querySelectorAll('body *')) {
  const own = Array.from(el.childNodes).filter(n => n.nodeType === 3 && n.data.trim()).length;
  if (!own) continue;
  const s = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  if (s.visibility === 'hidden' || s.display === 'none' || r.width < 2 || r.height < 2) continue;
  if (el.closest('svg') && el.tagName.toLowerCase() !== 'text') continue;
  const colour = el.closest('svg') ? s.fill : s.color;
  out.push([el.tagName.toLowerCase(), el.textContent.trim().slice(0, 40), colour, bg(el)]);
}
return out;
"""


def rgb(text: str) -> tuple[int, int, int]:
    """``rgb(r, g, b)`` / ``rgba(r, g, b, a)`` or ``#rrggbb`` as integers."""
    if text.startswith("#"):
        return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)
    r, g, b = (int(float(v)) for v in re.findall(r"[\d.]+", text)[:3])
    return r, g, b


def luminance(colour: tuple[int, int, int]) -> float:
    """WCAG 2.x relative luminance of an sRGB colour."""

    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio (1 to 21)."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula_on_known_pairs():
    assert round(contrast((0, 0, 0), (255, 255, 255)), 2) == 21.0
    assert contrast((255, 255, 255), (255, 255, 255)) == 1.0
    assert round(contrast(rgb("#767676"), rgb("#ffffff")), 2) == 4.54  # the classic grey limit
    assert contrast(rgb("#777777"), rgb("#ffffff")) < MIN_RATIO


@pytest.mark.parametrize(
    "path",
    [
        "/rules?home=RS&visited=ME&on=2020-03-01",
        "/rules?home=QQ&visited=ME&on=2020-13-01",
        "/trip",
        "/audit?on=2026-03-01",
        "/dashboard",
    ],
)
def test_text_contrast_on_every_page(browser, web_server, path):
    browser.get(f"{web_server}{path}")
    measured = browser.execute_script(TEXT_COLOURS)
    assert len(measured) > 10
    low = [
        (tag, text, fg, bg, round(contrast(rgb(fg), rgb(bg)), 2))
        for tag, text, fg, bg in measured
        if contrast(rgb(fg), rgb(bg)) < MIN_RATIO
    ]
    assert low == []


def test_regime_matrix_colours_keep_the_text_readable(browser, web_server):
    browser.get(f"{web_server}/rules?home=RS&visited=ME&on=2020-03-01")
    text = browser.execute_script(
        "return getComputedStyle(document.querySelector('#matrix td a')).color"
    )
    for regime, fill in REGIME_COLOURS.items():
        assert contrast(rgb(text), rgb(fill)) >= MIN_RATIO, regime
