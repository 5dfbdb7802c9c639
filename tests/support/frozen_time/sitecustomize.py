"""Started by Python in a test's `pursuit` subprocess (see tests/support/clock.py):
the process begins at the instant the test gives, and ticks from there."""

import os

_now = os.environ.get("PURSUIT_TEST_NOW")
if _now:
    import time_machine

    # A timestamp: the time zone stays the one the test gave (TZ).
    time_machine.travel(float(_now), tick=True).start()
