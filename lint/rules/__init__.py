"""The rules, one module each (``mcNNN_kebab_name.py``). How to write one: see ``base.py``.

Import :func:`all_rules` / :func:`select_rules` from :mod:`mcore_lint.rules.registry`.
"""

from .base import Context, Invalid, Rule, Valid
from .registry import RuleError, all_rules, rule_by_code, select_rules, split_codes

__all__ = ["Context", "Invalid", "Rule", "RuleError", "Valid", "all_rules", "rule_by_code", "select_rules",
           "split_codes"]
