"""notify: e-mail, SMS and call-back notifications, their delivery, and the 1-hour clock."""
