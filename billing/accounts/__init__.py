"""Per-user settings routes: a user's role and budget (/v1/users/{user_id}...)."""
