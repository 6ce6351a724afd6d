"""``xgw adapter``: the DMS adapters of this gateway's participants, by hand."""

from __future__ import annotations

import click


@click.group("adapter")
def adapter_group() -> None:
    """See the participants' DMS adapters and their health, export from and import into a DMS by hand."""
