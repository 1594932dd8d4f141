"""Gateways: the gateway processes serving, how far each lags the change feed, and receipts
saying whether every live one has applied a change.

Other packages use only the modules named in `__all__`.
"""

__all__ = ["schemas", "service"]
