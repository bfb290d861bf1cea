"""Domain services: queries and rules over the domain model.

Every function takes the session as a keyword argument; the caller owns its lifecycle.
"""
