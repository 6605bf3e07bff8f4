"""notify's rules: what is owed to whom, the contact clock, delivery, reminders."""
