"""Partner Center: the REST client (`client.py`), its Entra ID tokens (`auth.py`),
the stored app+user refresh tokens (`credentials.py`) and the sync that brings a
partner's customers, subscriptions, orders and Microsoft invoices into our
database (`sync.py`), run by `csp-desk partner-center sync` and on a schedule
(`schedule.py`). docs/onboarding.md walks a partner through it."""
