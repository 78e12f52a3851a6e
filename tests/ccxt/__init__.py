"""Offline tests of the ccxt adapter against real ccxt exchange classes with canned HTTP."""
