"""Operator routes: config reload."""
