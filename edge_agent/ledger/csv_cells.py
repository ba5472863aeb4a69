"""Cells for the CSV files the project writes, safe to open in a spreadsheet.

Text a person typed (a work order, a reason, a description) can start with `=`, `+`, `-`, `@`, a tab or a
carriage return, and a spreadsheet would then run it as a formula (`=cmd|' /C calc'!A0`). Such a cell is
written with a leading apostrophe, which spreadsheets show as text; a cell that already starts with an
apostrophe gets one more, so `plain` gives back exactly what was written. A plain number ("-12.50") is a
number, never a formula, and is written as it is."""
import re

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe(value):
    """The cell to write for value: numbers and None as they are, text neutralised when it could run."""
    if isinstance(value, str) and value.startswith(TRIGGERS) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def plain(cell):
    """What safe() was given, from the cell read back."""
    return cell[1:] if cell.startswith("'") else cell
