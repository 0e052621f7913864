"""The packages kernel: applications and their immutable, SHA-256-hashed package versions — what
every run needs. The application sharing center's marketplace (listing, search, subscriptions)
sits on top of it.
"""
