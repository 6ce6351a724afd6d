"""Schema bundles: the catalogue of supported versions, the registry of compiled schemas, code lists."""
