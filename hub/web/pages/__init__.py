"""The web app's pages: each module named here has routes() (a list of starlette Routes) and may have NAV,
(text, href, capability) entries for the navigation bar, shown in this order to whoever may use them."""

PAGES = ["hub.web.pages.home", "hub.web.pages.fleet", "hub.web.pages.alerts", "hub.web.pages.routes",
         "hub.web.pages.orders", "hub.web.pages.minmax", "hub.web.pages.reports", "hub.web.pages.users"]
