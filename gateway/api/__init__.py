"""The REST face of the gateway: FastAPI app, versioned under ``/api/v1`` (see docs/api.md)."""
