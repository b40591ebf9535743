"""`python -m tests.ingest.faulty_worker`: the real worker, with faults for marked objects.

A source holding `late-failure` fails in the breakdown step (after its samples were written
inside the job's transaction) with the OSError that absurd times used to raise there; one
holding `slow-analysis` takes 20 s in that step; one holding `defect` raises a RuntimeError
there (an "internal error"). Everything else is the production worker.
"""

from __future__ import annotations

import time

from analysis_module import runner, worker

_real_breakdown = runner.breakdown_table


def _breakdown(source, rows):
    if "late-failure" in source:
        raise OSError(75, "Value too large for defined data type")
    if "defect" in source:
        raise RuntimeError("a defect in the breakdown")
    if "slow-analysis" in source:
        time.sleep(20)
    return _real_breakdown(source, rows)


runner.breakdown_table = _breakdown

if __name__ == "__main__":
    worker.main()
