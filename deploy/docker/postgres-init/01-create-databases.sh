#!/bin/bash
# Runs once, from the official postgres image's /docker-entrypoint-initdb.d, when the data volume
# is empty (first start). It does NOT run again on later starts: to change roles or databases on
# an existing volume, do it with psql, or drop the volume (losing the data).
#
# Each service gets its own database AND its own login role that owns it, so a service can
# neither read nor write another service's tables (DESIGN.md: "never read each other's tables").
# Passwords come from the container environment (set from .env by docker-compose.yml).
set -euo pipefail

create_service_database() {
    local name="$1" password="$2"
    if [ -z "$password" ]; then
        echo "01-create-databases.sh: no password given for role '$name'" >&2
        exit 1
    fi
    # psql variables (:"name" identifier, :'password' literal) quote the values safely.
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -v name="$name" -v password="$password" <<-'EOSQL'
	CREATE ROLE :"name" LOGIN PASSWORD :'password';
	CREATE DATABASE :"name" OWNER :"name" ENCODING 'UTF8' TEMPLATE template0;
	REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
	GRANT ALL ON DATABASE :"name" TO :"name";
EOSQL
    echo "01-create-databases.sh: database '$name' owned by role '$name' created"
}

create_service_database booking "${BOOKING_DB_PASSWORD:-}"
create_service_database referral "${REFERRAL_DB_PASSWORD:-}"
create_service_database notify "${NOTIFY_DB_PASSWORD:-}"
