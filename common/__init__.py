"""What both tiers use: database, auth, audit chain, file store, crypto helpers, the envelope, time."""
