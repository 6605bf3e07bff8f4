"""notify's tables and everything that talks to the outside: SMTP, SMS, the mail sink."""
