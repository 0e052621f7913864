"""share package."""
