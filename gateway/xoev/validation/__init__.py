"""Validation: XSD, the rules beyond XSD, ZIP packages, and the reports with their rule table."""
