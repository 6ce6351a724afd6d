"""The XTA 2 client: the gateway as a sender to (and reader of) any XTA 2 server.

Module map, bottom up:

* :mod:`.errors` -- typed, classified errors (transient vs permanent, XTA faults with code and text);
* :mod:`.peer` -- a peer's base URL, pinned CA and client certificate, resolved from the settings;
* :mod:`.breaker` -- per-peer circuit breakers, their state readable for health and metrics;
* :mod:`.envelopes` -- requests rendered by zeep from the shared WSDL, content as MTOM parts;
* :mod:`.http` -- one SOAP exchange over requests with timeouts, deadline and streamed MTOM replies;
* :mod:`.replies` -- replies read into the typed values the XTA server uses too;
* :mod:`.client` -- every operation with retries (tenacity) and the send and receive flows;
* :mod:`.transport` -- the pipeline's ``Transport`` for route ``xta``.
"""
