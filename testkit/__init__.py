"""Helpers shared by the tests and the benchmarks: fresh migrated databases
(``databases``), the real service in a subprocess (``live``) and realistic
LibreChat export files (``librechat_exports``). Not part of the service."""
