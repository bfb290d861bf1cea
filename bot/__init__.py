"""NLU building blocks: the topic/triage taxonomy and the in-repo spaCy pipeline."""
