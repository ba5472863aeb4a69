"""Routes and van loads (docs/hub/routes.md): schedule.py (when a route leaves and its cut-off), book.py (the
routes and their stops), van_load.py (what the van takes for the next departure, and freezing it), sheets.py
(the pick sheet as HTML and CSV), reconcile.py (after the visit: loaded against put in), freeze.py (the
scheduled job that freezes each load at its cut-off)."""
