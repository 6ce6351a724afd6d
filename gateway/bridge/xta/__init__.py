"""XTA 2 bound to the pipeline: the server's backend (MsgBox, transport report, MessageID ledger) and the sender."""
