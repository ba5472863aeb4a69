"""The pieces every page is made of: the page frame with the navigation its viewer may use, tables, forms
that carry the CSRF token, links, CSV downloads. Text is escaped here, once; a page passes plain values or
HTML it built with these."""
import csv
import html
import importlib
import io

from starlette.responses import HTMLResponse, Response

from hub.web import security
from hub.web.roles import ROLE_NAMES
from hub.web.viewer import COOKIE


class Html(str):
    """Text that is already HTML (table() and page() leave it as it is)."""


def esc(text):
    return Html(html.escape("" if text is None else str(text), quote=True))


def cell(value):
    return value if isinstance(value, Html) else esc(value)


def link(href, text):
    return Html('<a href="%s">%s</a>' % (esc(href), cell(text)))


def table(columns, rows, empty="Nothing to show.", numeric=()):
    """columns: header texts; rows: lists of cells (plain values are escaped); numeric: column indexes
    aligned right."""
    if not rows:
        return Html('<p class="empty">%s</p>' % esc(empty))
    head = "".join('<th%s>%s</th>' % (' class="num"' if i in numeric else "", cell(c)) for i, c in enumerate(columns))
    body = "".join("<tr>%s</tr>" % "".join('<td%s>%s</td>' % (' class="num"' if i in numeric else "", cell(v))
                                           for i, v in enumerate(row)) for row in rows)
    return Html("<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (head, body))


def csrf_field(request):
    token = security.csrf_token(request.app.state.secret, request.cookies.get(COOKIE, ""))
    return Html('<input type="hidden" name="%s" value="%s">' % (security.CSRF_FIELD, token))


def form(request, action, inner_html="", submit="Save", css_class=None):
    """A POST form to `action` with the CSRF token and one submit button."""
    return Html('<form method="post" action="%s"%s>%s%s<button type="submit">%s</button></form>'
                % (esc(action), ' class="%s"' % esc(css_class) if css_class else "", csrf_field(request),
                   cell(inner_html), esc(submit)))


def field(label, name, value="", kind="text", required=False):
    """A labelled input for form()."""
    return Html('<label>%s <input type="%s" name="%s" value="%s"%s></label>'
                % (esc(label), esc(kind), esc(name), esc(value), " required" if required else ""))


def nav_items(viewer):
    """(text, href) of every page module's NAV entry the viewer may use, in PAGES order."""
    from hub.web.pages import PAGES
    items = []
    for name in PAGES:
        for text, href, capability in getattr(importlib.import_module(name), "NAV", ()):
            if viewer.may(capability):
                items.append((text, href))
    return items


def page(request, viewer, title, body_html, status=200):
    """A whole page: header with the viewer's name, role and sign-out, the navigation, the title and body."""
    nav = "".join('<a href="%s">%s</a>' % (esc(href), esc(text)) for text, href in nav_items(viewer)) if viewer else ""
    who = ""
    if viewer:
        who = ('<span class="who">%s · %s%s</span>%s' % (
            esc(viewer.name), esc(ROLE_NAMES[viewer.role]), " · %s" % esc(viewer.customer) if viewer.customer else "",
            form(request, "/logout", submit="Sign out", css_class="signout")))
    text = ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<title>%s · Locker hub</title><link rel="stylesheet" href="/static/hub.css"></head><body>'
            '<header><a class="brand" href="/">Locker hub</a><nav>%s</nav>%s</header>'
            '<main><h1>%s</h1>%s</main></body></html>' % (esc(title), nav, who, esc(title), cell(body_html)))
    return HTMLResponse(text, status, headers={"Cache-Control": "no-store"})


def csv_response(filename, header, rows):
    """A CSV download (RFC 4180, UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="%s"' % filename.replace('"', ""),
                             "Cache-Control": "no-store"})
