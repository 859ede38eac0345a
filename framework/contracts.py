"""Kept so that plugins written against the old documented path (`from framework.contracts import
ModelContract`) still work: the contract suites live in `framework.testing`, the path to use from now on."""

from framework.testing.contracts import *  # noqa: F403
from framework.testing.contracts import __all__ as __all__
