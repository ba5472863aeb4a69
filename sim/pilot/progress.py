"""A progress bar on stderr, no dependency: a `\r` bar redrawn in place on a terminal, plain lines every
tenth of the run otherwise (a log or CI keeps them readable). It shows simulated days, never wall time."""
import sys

WIDTH = 30


class Progress:
    def __init__(self, label, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_tenth = -1

    def __call__(self, done, total):
        if total <= 0:
            return
        fraction = min(1.0, done / total)
        if self.tty:
            filled = int(round(WIDTH * fraction))
            self.stream.write("\r%s [%s%s] day %d/%d" % (self.label, "#" * filled, "." * (WIDTH - filled), done,
                                                         total))
            if done >= total:
                self.stream.write("\n")
        else:
            tenth = int(fraction * 10)
            if tenth == self._last_tenth:
                return
            self._last_tenth = tenth
            self.stream.write("%s: day %d/%d (%d%%)\n" % (self.label, done, total, int(fraction * 100)))
        self.stream.flush()
