"""The worker's steps: what happens to a claimed message in each state, one module per job.

A worker holds the message's lease while it runs the chain from the message's state to the next state
that waits for someone else (outbound: ``sent``; inbound: ``delivered`` or ``confirmed``):

- :mod:`.sign` (outbound ``validated -> signed``), :mod:`.route` (``signed -> queued``), :mod:`.send`
  (``queued -> sent``);
- :mod:`.check` (inbound ``received -> verified -> validated``), :mod:`.deliver` (``validated ->
  delivered``, into a mailbox or a DMS), :mod:`.answer` (``delivered -> confirmed``: the receipts);
- :mod:`.job` holds the claimed message, groups its transitions into few commits and carries what was
  learned about it; :mod:`.payload` gives the views of its payload; :mod:`.runner` dispatches.

Each transition is fenced by the lease and the expected state (:func:`gateway.pipeline.lifecycle.transition`),
and each step can be repeated: signing again writes a new payload (the first one becomes garbage), the
local mailbox finds a copy it already made, a receipt made before is found by its identity. A worker
killed anywhere therefore loses nothing and duplicates nothing; its lease expires and another worker
continues from the last committed state.
"""

from gateway.pipeline.steps.job import Job, Permanent, Retry
from gateway.pipeline.steps.runner import advance, run, run_step

__all__ = ["Job", "Permanent", "Retry", "advance", "run", "run_step"]
