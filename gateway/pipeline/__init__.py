"""The message pipeline: intake, the state machine its workers drive, receipts and process threads.

One message's way, by module: :mod:`intake` (stream, validate, check the sender, store) -> :mod:`steps`
(sign, route, transport, verify, deliver, answer) run by :mod:`worker` -> :mod:`transport` (the local
mailbox, or a remote peer) -> :mod:`receipts` (answers and their correlation) -> :mod:`processes` (a
ProzessID's messages as one thread with its deadline).
"""
