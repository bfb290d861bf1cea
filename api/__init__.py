"""The CSP billing desk's own code: models, services, the HTTP API and the CLI."""
