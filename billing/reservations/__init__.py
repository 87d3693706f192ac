"""Reservations: hold the estimated cost of a call, settle with the real event."""
