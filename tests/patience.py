"""How long a test waits for a condition before it gives up.

Long on purpose: on a loaded machine slow is not wrong, and a passing test never waits it out (it
goes on as soon as the condition holds). A timeout is never what a test asserts.
"""

PATIENCE = 60.0  # seconds
