"""Messaging over RabbitMQ: envelope and contracts, topology, connections."""
