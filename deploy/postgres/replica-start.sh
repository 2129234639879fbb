#!/bin/sh
# The streaming read replica: copied from the primary on first start (pg_basebackup -R writes the standby
# settings and a replication slot keeps the WAL it still needs), then started as a hot standby.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -h postgres -U replicator -d postgres; do sleep 1; done
    PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h postgres -U replicator -D "$PGDATA" \
        -X stream -R -C -S onetable_replica
    chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
