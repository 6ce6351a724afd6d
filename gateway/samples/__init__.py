"""Sample xdomea messages: the test-message generator behind ``xgw generate``, the demo's answers, tests and benchmarks.

A tool, not part of the standard: it sits above :mod:`gateway.xoev` (whose builders it drives) and only the
faces that make samples (the ``xgw generate`` command, :mod:`gateway.demo`) import it. The core (xoev, store,
participants, pipeline, bridge, transport, api, console) never does; ``tests/test_layers.py`` checks that.
"""
