"""``python -m inferline_bridge``: serve the bridge with the settings in its environment.

``inferline serve`` and ``inferline bridge`` start it this way, as a process of its own, so
that the command never imports the bridge and the bridge never imports the core.
"""

from __future__ import annotations

import os
import sys

from inferline_bridge.settings import SETTINGS_ENV, SettingsError, launch


def main() -> int:
    """Run the bridge until SIGINT/SIGTERM; 2 for unusable settings."""
    try:
        spec = launch(os.environ.get(SETTINGS_ENV, '{"host": "127.0.0.1", "port": 18181}'))
        spec.settings.core_credentials()  # unreadable TLS files: an error now, not later
    except (SettingsError, OSError, ValueError) as error:
        print(f"inferline bridge: {error}", file=sys.stderr)
        return 2
    from inferline_bridge.server import run_bridge

    run_bridge(spec.settings, host=spec.host, port=spec.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
