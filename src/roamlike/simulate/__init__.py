"""What-if policy scenarios: the same usage rated under the baseline law and a scenario."""

from roamlike.simulate.builtin import BUILTIN_DIR, builtin_names, scenario_path

__all__ = ["BUILTIN_DIR", "builtin_names", "scenario_path"]
