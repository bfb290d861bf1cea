"""Bringing a partner's own records in from files (`csp-desk import ...`)."""
