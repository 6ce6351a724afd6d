"""The XTA 2 protocol library: the server (:mod:`.xta`: SOAP 1.2, MTOM, WSDL, faults, WS-Addressing) and the client.

It knows no pipeline, no database, no face: what a server port does with a message is the
:class:`~gateway.transport.xta.backend.XtaBackend` seam, implemented by :mod:`gateway.bridge.xta`; what the
pipeline sends through the client is :mod:`gateway.bridge.xta.sender`. From the rest of the gateway it reads
only the settings (:mod:`gateway.config`, the settings leaf) and the standard's safe XML parser and limits
(:mod:`gateway.xoev`). ``tests/test_layers.py`` holds it to that (contract "transport" in pyproject.toml).
"""
