"""notify's HTTP API: the app, its routers, schemas and error mapping."""
