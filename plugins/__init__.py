"""Plait's built-in components. Each subpackage registers its components when imported and is
reached through the `plait.plugins` entry points declared in pyproject.toml, like any third party."""
