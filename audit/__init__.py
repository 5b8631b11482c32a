"""The audit trail: who changed what, when and why, field by field (django-auditlog underneath).

``tracking`` says which models and fields are recorded, ``context`` who and why, ``selectors``
reads the trail for a page (masked as the reader may see it), ``login_guard`` throttles failed
staff logins (django-axes).
"""
