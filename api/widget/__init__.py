"""The embeddable web chat widget (served as /widget/widget.js) and the "Contoso
portal" demo page that embeds it (/demo/portal). See docs/channels.md."""
