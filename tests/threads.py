"""Running calls at the same instant on separate threads, each with its own database connection."""

import threading

from django.db import connection


def run_together(*calls):
    """Start every call in its own thread (its own database connection) at the same instant; returns
    ("ok", result) or ("error", exception) per call."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(i, call):
        try:
            barrier.wait(timeout=10)
            results[i] = ("ok", call())
        except Exception as exc:
            results[i] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
