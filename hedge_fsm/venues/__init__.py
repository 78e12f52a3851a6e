"""Venue implementations for real exchanges.

* :mod:`hedge_fsm.venues.ccxt` — :class:`~hedge_fsm.venues.ccxt.CcxtVenue`, any
  ``ccxt.async_support`` exchange as a :class:`~hedge_fsm.Venue` (needs the
  ``ccxt`` extra: ``pip install hedge-fsm[ccxt]``).

Nothing is imported here, so that ``hedge_fsm.venues`` stays importable without
the optional dependencies of its adapters.
"""
