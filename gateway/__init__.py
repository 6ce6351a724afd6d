"""xoev-gateway: validates, signs and transports XÖV messages between public authorities."""

__version__ = "0.1.0"
