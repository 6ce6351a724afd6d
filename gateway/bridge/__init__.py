"""The glue between the pipeline and the protocol libraries, and nothing else.

``gateway/transport/`` speaks SOAP, MTOM and XTA 2 and knows no database; ``gateway/pipeline/`` moves
messages through their states and knows no protocol. The modules here are the only ones that know both:
``bridge/xta/backend.py`` serves the XTA server's three ports from the pipeline (the server's typed
:class:`~gateway.transport.xta.backend.XtaBackend` seam), ``bridge/xta/sender.py`` is the pipeline's
:class:`~gateway.pipeline.transport.Transport` that hands queued messages to remote XTA servers with the
XTA client.
"""
