"""roamlike: international mobile-roaming regulation as cited, dated rules-as-code.

Layers (data flows down): ``law`` (the catalog), ``tariffs`` (plans, VAT, FX, fair use),
``rating`` (the vectorized engine), ``reference`` (the per-record oracle), ``io``, ``synth``,
``report``, ``audit``; ``cli`` is a thin Typer app over them.
"""

__version__ = "0.1.0"
