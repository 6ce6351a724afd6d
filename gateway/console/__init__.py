"""The admin console: server-rendered pages (Jinja2 + htmx) under /console for the gateway's administrators.

Console users sign in with a password (Argon2id hashes in ``console_user``) and get a signed session
cookie; every POST carries a CSRF token bound to the session. What a user sees is narrowed in the
queries (:mod:`gateway.console.access`), not by hiding links. Every admin action and every failed
sign-in is written to ``audit_entry`` and to the structured log.
"""
