"""Access control every service enforces the same way: staff tokens, roles, patient links, audit."""
