"""Built-in learning-rate schedules, stepped once per optimizer step, each with a linear warmup (`warmup_steps`).

Closed forms of the step (`closed_form.py`: constant, linear, cosine, warmup_cosine, polynomial, wsd,
inverse_sqrt) and the metric-driven `plateau` (`plateau.py`). They multiply the optimizer's lr.
"""

from __future__ import annotations

from plugins.schedulers import closed_form, plateau  # noqa: F401  (register the schedules)
