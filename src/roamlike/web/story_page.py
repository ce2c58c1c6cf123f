"""The Western Balkans story (``/story``): the report of ``roamlike demo`` as a page.

The demo rates a synthetic year of traffic on seven key dates (tens of seconds for the default
200,000 records), so the report is built once per process, in a background thread started by the
first visit; until it is ready the page says so and refreshes itself.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from roamlike.demo import run_demo
from roamlike.errors import RoamlikeError
from roamlike.web.layout import e, error_box, page

BACK_LINK = (
    '<nav aria-label="roamlike pages" style="padding:.5rem 1rem;background:#102a43">'
    '<a href="/rules" style="color:#fff">roamlike pages</a> · '
    '<a href="/trip" style="color:#fff">Trip calculator</a></nav>'
)


class Story:
    """The demo's report, built once in the background.

    Parameters
    ----------
    records : int
        Synthetic records of the year (``roamlike demo --records``).
    seed : int
        Traffic seed (``roamlike demo --seed``).
    """

    def __init__(self, records: int, seed: int = 2019) -> None:
        self.records = records
        self.seed = seed
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._report: str | None = None
        self._error: str | None = None

    def _build(self) -> None:
        try:
            with tempfile.TemporaryDirectory(prefix="roamlike-story-") as folder:
                result = run_demo(Path(folder), self.records, self.seed)
                report = result.report_path.read_text(encoding="utf-8")
        except (RoamlikeError, ValueError, OSError) as exc:
            self._error = f"the story could not be built: {exc}"
            return
        self._report = report

    def start(self) -> None:
        """Start building the report unless it is built or being built."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._build, name="story", daemon=True)
                self._thread.start()

    def render(self) -> tuple[int, str]:
        """The report with a link back to the pages, or a page saying it is being prepared."""
        self.start()
        if self._report is not None:
            return 200, self._report.replace("<body>", "<body>" + BACK_LINK, 1)
        if self._error is not None:
            return 500, page("The Western Balkans story", error_box([self._error]), "/story")
        body = (
            f"<p>The engine is rating {e(f'{self.records:,}')} synthetic records on seven key "
            "dates of the Western Balkans agreement. This page refreshes itself every few "
            'seconds until the report is ready.</p><p><a href="/story">Refresh now</a></p>'
        )
        return 200, page(
            "The Western Balkans story",
            body,
            "/story",
            "The report is being prepared",
            '<meta http-equiv="refresh" content="3">',
        )
