"""Small inline-SVG charts with no dependencies: horizontal bars, vertical (column) bars, a line and a
sparkline. Each function returns one `<svg>` element as text, sized in CSS pixels with a viewBox so it
scales to its container and prints sharp. Labels are escaped; colours come from the caller or PALETTE.
The elements carry no xmlns: they are meant to be inlined in an HTML page (where none is needed), so a
page built from them holds no URL at all.

    from edge_agent.reports.charts import hbar_chart, column_chart, line_chart, sparkline
    html = hbar_chart([("GLV-NIT-L", 120), ("SG-CLR", 40)], value_format="{:,.0f}")
"""
import html
import math

PALETTE = ("#1f5fa8", "#e07b00", "#2e8b57", "#b03a2e", "#6c4f9c", "#5d6d7e", "#c9a227", "#17808a")
INK = "#222"
MUTED = "#6b7280"
GRID = "#e5e7eb"
TICKS = 5     # axis intervals: a 1, 2, 2.5 or 5 x 10^n axis end gives round ticks (0, 2, 4... 10)
FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif\""


def _esc(text):
    return html.escape(str(text), quote=True)


def _fmt(value, value_format):
    if callable(value_format):
        return value_format(value)
    return value_format.format(value)


def _tick(value, value_format):
    """An axis tick: whole numbers without decimals, whatever the bars' own format."""
    if float(value).is_integer():
        return "{:,}".format(int(value))
    return "{:,.1f}".format(value)


def nice_ceiling(value):
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above value (an axis end a person reads)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _empty(width, height, message):
    return ('<svg class="chart" width="%d" height="%d" viewBox="0 0 %d %d" '
            'role="img" aria-label="%s"><text x="%d" y="%d" text-anchor="middle" fill="%s" font-size="13" %s>'
            '%s</text></svg>' % (width, height, width, height, _esc(message), width // 2, height // 2, MUTED,
                                 FONT, _esc(message)))


def hbar_chart(items, *, width=640, bar_height=20, gap=6, label_width=170, value_format="{:,}", color=None,
               title=None, empty="nothing in this period"):
    """Horizontal bars, one per (label, value[, colour]) in the order given: top items, spend, hours out."""
    items = list(items)
    if not items:
        return _empty(width, 60, empty)
    value_width = 90
    plot = max(40, width - label_width - value_width)
    top = max((v for _, v, *_ in items), default=0)
    scale = plot / top if top > 0 else 0
    height = len(items) * (bar_height + gap) + gap
    parts = ['<svg class="chart" width="%d" height="%d" viewBox="0 0 %d %d" '
             'role="img" aria-label="%s" %s font-size="12">' % (width, height, width, height,
                                                               _esc(title or "bar chart"), FONT)]
    for i, (label, value, *rest) in enumerate(items):
        y = gap + i * (bar_height + gap)
        fill = rest[0] if rest and rest[0] else (color or PALETTE[0])
        length = max(0.0, value * scale)
        text = str(label)
        fits = max(4, int((label_width - 8) / 6.8))    # about 6.8 px a character at 12 px
        if len(text) > fits:
            text = text[:fits - 1] + "…"
        parts.append('<text x="%d" y="%.1f" text-anchor="end" fill="%s" dominant-baseline="middle">%s<title>%s'
                     '</title></text>' % (label_width - 8, y + bar_height / 2, INK, _esc(text), _esc(label)))
        parts.append('<rect x="%d" y="%d" width="%.1f" height="%d" rx="2" fill="%s"/>'
                     % (label_width, y, length, bar_height, fill))
        parts.append('<text x="%.1f" y="%.1f" fill="%s" dominant-baseline="middle">%s</text>'
                     % (label_width + length + 6, y + bar_height / 2, INK, _esc(_fmt(value, value_format))))
    parts.append("</svg>")
    return "".join(parts)


def _y_grid(parts, top, value_format, x0, x1, top_pad, plot_h):
    """The value axis of a column or line chart: TICKS + 1 grid lines, each with its value on the left."""
    for k in range(TICKS + 1):
        value = top * k / TICKS
        y = top_pad + plot_h - plot_h * k / TICKS
        parts.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>' % (x0, y, x1, y, GRID))
        parts.append('<text x="%d" y="%.1f" text-anchor="end" fill="%s" dominant-baseline="middle">%s</text>'
                     % (x0 - 6, y, MUTED, _esc(_tick(value, value_format))))


def column_chart(items, *, width=640, height=220, value_format="{:,}", color=None, title=None,
                 empty="nothing in this period", show_values=True):
    """Vertical columns, one per (label, value) left to right (usage by week), with a light grid."""
    items = list(items)
    if not items:
        return _empty(width, height, empty)
    left, right, top_pad, bottom = 48, 10, 18, 34
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = nice_ceiling(max((v for _, v in items), default=0))
    slot = plot_w / len(items)
    bar_w = max(2.0, slot * 0.7)
    parts = ['<svg class="chart" width="%d" height="%d" viewBox="0 0 %d %d" '
             'role="img" aria-label="%s" %s font-size="11">' % (width, height, width, height,
                                                               _esc(title or "column chart"), FONT)]
    _y_grid(parts, top, value_format, left, width - right, top_pad, plot_h)
    every = max(1, math.ceil(len(items) / 12))     # at most about 12 axis labels
    for i, (label, value) in enumerate(items):
        h = plot_h * value / top if top else 0
        x = left + i * slot + (slot - bar_w) / 2
        y = top_pad + plot_h - h
        parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>'
                     % (x, y, bar_w, max(0.0, h), color or PALETTE[0], _esc(label), _esc(_fmt(value, value_format))))
        if show_values and value and bar_w >= 18:
            parts.append('<text x="%.1f" y="%.1f" text-anchor="middle" fill="%s">%s</text>'
                         % (x + bar_w / 2, y - 4, INK, _esc(_fmt(value, value_format))))
        if i % every == 0:
            parts.append('<text x="%.1f" y="%d" text-anchor="middle" fill="%s">%s</text>'
                         % (x + bar_w / 2, height - bottom + 16, MUTED, _esc(label)))
    parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>'
                 % (left, top_pad + plot_h, width - right, top_pad + plot_h, MUTED))
    parts.append("</svg>")
    return "".join(parts)


def line_chart(series, labels, *, width=640, height=220, value_format="{:,}", title=None,
               empty="nothing in this period"):
    """One line per (name, [values...]) over the same x labels, with a legend: a comparison over time."""
    series = [(name, list(values)) for name, values in series]
    if not labels or not series:
        return _empty(width, height, empty)
    left, right, top_pad, bottom = 48, 10, 26, 34
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = nice_ceiling(max((v for _, vs in series for v in vs), default=0))
    step = plot_w / max(1, len(labels) - 1)
    parts = ['<svg class="chart" width="%d" height="%d" viewBox="0 0 %d %d" '
             'role="img" aria-label="%s" %s font-size="11">' % (width, height, width, height,
                                                               _esc(title or "line chart"), FONT)]
    _y_grid(parts, top, value_format, left, width - right, top_pad, plot_h)
    every = max(1, math.ceil(len(labels) / 12))
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append('<text x="%.1f" y="%d" text-anchor="middle" fill="%s">%s</text>'
                         % (left + i * step, height - bottom + 16, MUTED, _esc(label)))
    legend_x = left
    for n, (name, values) in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        points = " ".join("%.1f,%.1f" % (left + i * step, top_pad + plot_h - (plot_h * v / top if top else 0))
                          for i, v in enumerate(values))
        parts.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (colour, points))
        parts.append('<rect x="%d" y="4" width="10" height="10" fill="%s"/><text x="%d" y="13" fill="%s">%s</text>'
                     % (legend_x, colour, legend_x + 14, INK, _esc(name)))
        legend_x += 24 + 7 * len(str(name))
    parts.append("</svg>")
    return "".join(parts)


def sparkline(values, *, width=120, height=24, color=None, fill=True):
    """A tiny trend line for a table cell (daily usage of one item); flat at the bottom when all zero."""
    values = list(values)
    if not values:
        return ""
    top = max(values) or 1
    step = (width - 2) / max(1, len(values) - 1)
    points = ["%.1f,%.1f" % (1 + i * step, height - 2 - (height - 4) * v / top) for i, v in enumerate(values)]
    colour = color or PALETTE[0]
    area = ""
    if fill:
        area = ('<polygon fill="%s" fill-opacity="0.15" points="1,%d %s %.1f,%d"/>'
                % (colour, height - 2, " ".join(points), 1 + (len(values) - 1) * step, height - 2))
    return ('<svg class="spark" width="%d" height="%d" viewBox="0 0 %d %d" '
            'aria-hidden="true">%s<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/></svg>'
            % (width, height, width, height, area, colour, " ".join(points)))


def meter(fraction, *, width=90, height=10, color=None):
    """A small horizontal gauge for a 0..1 figure (a stockout probability in a table row)."""
    fraction = min(1.0, max(0.0, fraction))
    colour = color or ("#b03a2e" if fraction >= 0.5 else "#e07b00" if fraction >= 0.2 else "#2e8b57")
    return ('<svg class="meter" width="%d" height="%d" viewBox="0 0 %d %d" '
            'aria-hidden="true"><rect width="%d" height="%d" rx="3" fill="%s"/><rect width="%.1f" height="%d" '
            'rx="3" fill="%s"/></svg>' % (width, height, width, height, width, height, GRID, width * fraction,
                                          height, colour))
