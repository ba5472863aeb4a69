"""The installer at the cabinet: prompts and progress on a terminal, or a script's pipe."""
import sys

from edge_agent.cli.commissioning.checks import CommissioningError


class Console:
    """Prompts and progress for the installer. Every prompt ends in "press Enter." and waits for a line on
    stdin (a script may answer through a pipe); assume_yes: print each prompt and go on without waiting."""

    def __init__(self, out=None, inp=None, assume_yes=False):
        self.out = out or sys.stdout
        self.inp = inp or sys.stdin
        self.assume_yes = assume_yes

    def say(self, text):
        self.out.write(text + "\n")
        self.out.flush()

    def ask(self, text):
        if self.assume_yes:
            self.say(text + " [--yes: going on]")
            return
        self.out.write(text + " ")
        self.out.flush()
        if self.inp.readline() == "":
            raise CommissioningError("no answer from the installer (stdin closed); use --yes to run without prompts")
