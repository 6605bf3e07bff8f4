"""The project's common package: settings, database, messaging, logging, health, metrics."""
