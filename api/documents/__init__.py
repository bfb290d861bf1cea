"""Invoice documents: signed, short-lived PDF links (`links.py`) and the PDF itself
(`render.py`, reportlab). `api/web/routes/documents.py` serves them."""
