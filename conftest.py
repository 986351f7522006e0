"""Root conftest: loads the harness fixtures plugin for every test directory."""

pytest_plugins = ["harness.pytest_plugin.plugin", "harness.pytest_plugin.stack"]
