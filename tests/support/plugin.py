"""What the plugin's tests (docs/plugin.md) give pytester: `PLUGIN`, the options that load
sendai_server.testing.plugin by module name, and `AUTH`, a helper for a test file to call the
API with a key."""

from __future__ import annotations

# The application, imported by this process before any pytester session runs. An inner session
# runs in this process, and pytester takes out the modules it imported when it ends; a module
# the first session imported and another kept (marshmallow's classes, held by the schemas)
# would then be imported afresh by the next one, and its schemas refused as "not a Schema".
# Held here, they are the same in every session, as they are when app tests ran before.
import sendai_server.web.api  # noqa: F401

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
