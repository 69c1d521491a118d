"""Scale benchmark for habit-notifier: ``python -m bench --size small``.

It builds a synthetic habit app in a throwaway MariaDB database, times the job
against the database's own scan of the same logs, and prints the figures as a table.
"""
