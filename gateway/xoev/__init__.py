"""The standard: everything the gateway knows about XÖV/xdomea, and nothing about databases or transport.

A message passes through the subpackages in this order:

- :mod:`gateway.xoev.schemas`: which versions exist (the catalogue with file hashes), their compiled schemas
  and code lists;
- :mod:`gateway.xoev.parsing`: safe XML parsing, and any version into the typed model (:mod:`gateway.xoev.model`);
- :mod:`gateway.xoev.validation`: XSD, the rules beyond XSD, ZIP packages, and the reports;
- :mod:`gateway.xoev.signatures`: XMLDSig signing and verification against pinned certificates, the key store;
- :mod:`gateway.xoev.build`: messages and receipts written from the model.

The safety limits of parsing and validation are :mod:`gateway.xoev.limits`. The test-message generator is
not part of the standard; it is a tool above it (:mod:`gateway.samples`).
"""
