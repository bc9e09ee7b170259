"""What the plugin's tests (docs/plugin.md) give pytester: `PLUGIN`, the options that load
sendai_server.testing.plugin by module name, and `AUTH`, a helper for a test file to call the
API with a key."""

from __future__ import annotations

# The plugin by module name, whether or not this environment also has its entry point: two
# registrations of one module would be refused. Possibly imported already (by this run's own
# entry point), so pytest cannot rewrite its asserts (it has none to rewrite) and says so.
PLUGIN = ("-p", "no:sendai", "-p", "sendai_server.testing.plugin", "-p", "no:cacheprovider",
          "-W", "ignore::pytest.PytestAssertRewriteWarning")


AUTH = """
import requests

def get(sendai, path, key=None):
    return requests.get(sendai.api_url + path,
                        headers={"Authorization": f"Bearer {key or sendai.key()}"}, timeout=10)
"""
