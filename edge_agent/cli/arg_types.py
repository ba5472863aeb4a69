"""Argument types shared by the command lines (locker-agent, locker-sim): each refuses a bad value with words."""
import argparse


def positive_number(text):
    """A number above 0 (seconds, grams, a speed factor)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number: %r" % text) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0, got %s" % text)
    return value
