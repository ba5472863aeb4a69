"""Exceptions of the ledger. Each names what was refused and why, so an operator can act on the message."""


class LedgerError(Exception):
    """Base of every ledger failure."""


class SchemaTooNew(LedgerError):
    """The file was written by a newer agent: opening it with this one could lose what it knows."""


class MigrationError(LedgerError):
    """A schema step failed; the file is left at the last good version."""


class LedgerUnwritable(LedgerError):
    """SQLite could not write the ledger file (the disk is full, an I/O error, a read-only file): the
    transaction was rolled back whole, nothing of it is in the ledger."""


class AppendRefused(LedgerError):
    """A transaction was not written (bad kind, unknown location, outcome without intent...)."""


class ImportRefused(LedgerError):
    """A CSV file was refused as a whole; nothing was changed.

    `problems` lists every (row, field, message) found; row 1 is the header, so data starts at row 2.
    """

    def __init__(self, path, problems):
        self.path = str(path)
        self.problems = list(problems)
        lines = ["%s: row %s, field %r: %s" % (self.path, row, field, msg) for row, field, msg in self.problems]
        super().__init__("refused, nothing imported:\n  " + "\n  ".join(lines))
