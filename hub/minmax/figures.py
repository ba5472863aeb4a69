"""A location's min and max, checked as the Pi's locations.csv import checks them (edge_agent/rules/csv_io.py:
the same parser, the same words), so a figure the cabinet would refuse is refused when it is typed."""
from edge_agent.rules import csv_io
from hub.minmax import MinMaxRefused


def figure(name, value):
    """A min or max as typed -> a whole number from 0 to 1,000,000 (the import's parser)."""
    try:
        return csv_io.LOCATION_COLUMNS[name][1](str(value).strip())
    except ValueError as e:
        raise MinMaxRefused("%s %s" % (name, e)) from None


def check_line(where, low, high, capacity):
    """Max not below min, and not above what the location physically holds."""
    if high < low:
        raise MinMaxRefused("%s: max %d is below min %d" % (where, high, low))
    if capacity is not None and high > capacity:
        raise MinMaxRefused("%s: %s" % (where, csv_io.capacity_words(high, capacity)))
