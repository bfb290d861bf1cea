"""Rasa input channels of the product, run inside Rasa (`.venv-rasa`).

- `socketio.SecureSocketIOInput`: the embeddable web chat widget (api/widget/), with
  the session bound to the customer's signed chat token.
- `slack.SecureSlackInput`: Slack Events API and interactivity, signed requests only.
- `teams.TeamsInput`: Microsoft Teams through the Bot Framework, single-tenant.

Every channel puts `{"chat_token": ...}` into the message metadata, which is the only
thing actions trust about who is chatting (see common/identity.py). `config` is standard
library only; the channel modules import Rasa and must not be imported from `.venv`.
"""
