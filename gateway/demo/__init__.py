"""The demo: a participant directory of the association's five members and the Land Thüringen.

Shipped inside the package (not beside a checkout) so that ``xgw serve --demo`` works from an installed
wheel in any working directory.
"""

from pathlib import Path

#: the demo participant directory (TOML), importable with ``xgw participants import``
DEMO_DIRECTORY = Path(__file__).resolve().parent / "participants.toml"
