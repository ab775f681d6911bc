"""Fault injection against a running rtw stack (`rtw chaos`, `make chaos`)."""
