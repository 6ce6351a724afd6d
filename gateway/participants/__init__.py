"""The participant directory (the role DVDV plays nationally) and the API tokens bound to its entries."""
