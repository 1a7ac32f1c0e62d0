"""Small shared utilities (distributed communication, logging)."""
