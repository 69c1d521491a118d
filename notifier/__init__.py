"""habit-notifier: texts habit-tracker users when their logging lapses.

The public surface is small: :func:`notifier.settings.load_settings` reads the
settings and :func:`notifier.job.run_job` makes one run.
"""

from __future__ import annotations

__version__ = "0.1.0"
