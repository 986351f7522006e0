"""Root conftest: loads the harness fixtures plugin for every test directory."""

pytest_plugins = ["fixtures.plugin", "fixtures.stack"]
