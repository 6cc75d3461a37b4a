"""Matrix: the staff desk as threads in a room (matrix-nio)."""
