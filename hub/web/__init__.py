"""The hub's web app (docs/hub/web.md): the supplier's office, its route drivers and its customers' people
sign in and see their own tenant's and customers' cabinets. Starlette served by uvicorn, plain HTML with
one stylesheet, no script."""
