"""Validation: XSD, the rules beyond XSD, ZIP packages.

The findings they report are :mod:`gateway.xoev.report`, with the rule table :mod:`gateway.xoev.rules`; both
sit beside this package because parsing reports its refusals the same way.
"""
