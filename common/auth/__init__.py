"""Users, roles and permissions, API tokens. Robots are never users (standard ch. 8)."""
