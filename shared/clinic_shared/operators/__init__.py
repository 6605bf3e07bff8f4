"""Commands for the people who run the services: `clinic …` and each service's own subcommands."""
