"""Pure helpers the machines call: pricer, targets, ledger, tracker. No I/O, no clock."""
