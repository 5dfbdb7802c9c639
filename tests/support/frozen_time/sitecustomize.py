"""Started by Python in a test's `pursuit` subprocess (see tests/support/clock.py):
the process begins at the instant the test gives, and ticks from there.

With PURSUIT_TEST_CLOCK_STEPS naming a file, a thread watches it while the process
runs: each new line `<number> <seconds>` steps the wall clock by that many seconds
(back when negative), as NTP or a user fixing the clock would; the monotonic clock
is left alone, as the kernel leaves it. The number of the step applied last is
written to the same name with `.done` added, so the test knows when it is done."""

import os

_now = os.environ.get("PURSUIT_TEST_NOW")
if _now:
    import threading
    import time

    import time_machine

    # A timestamp: the time zone stays the one the test gave (TZ).
    _traveller = time_machine.travel(float(_now), tick=True).start()
    _steps = os.environ.get("PURSUIT_TEST_CLOCK_STEPS")

    def _watch(path: str) -> None:
        done = 0
        while True:
            time.sleep(0.01)  # the monotonic clock: real, whatever the wall clock does
            try:
                with open(path) as file:
                    number, seconds = file.read().split()
            except (OSError, ValueError):
                continue
            if int(number) <= done:
                continue
            _traveller.shift(float(seconds))
            done = int(number)
            with open(path + ".part", "w") as file:
                file.write(str(done))
            os.replace(path + ".part", path + ".done")

    if _steps:
        threading.Thread(target=_watch, args=(_steps,), name="clock-steps", daemon=True).start()
