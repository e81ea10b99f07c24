#!/usr/bin/env bash
# Copied from the shared baseline ../shared/perf/raw-handler-tps.sh, so that
# `cargo bench --bench command_throughput` runs it from a clone alone. Changed only by these
# lines and the optional RATE: with it, the same transactions are started at RATE per
# second (pgbench -R) and the latency of each is logged; prints "raw_handler_p99_ms N" and
# "raw_handler_over_10ms N" (a fraction) instead — the raw floor's own latency tail.
# The physical-limit baseline for a command: in one transaction read an aggregate's ~5
# events and append one, on the postgres-es events table with the project's extra columns.
# usage: raw-handler-tps.sh DBURL CLIENTS SECONDS [RATE]  -> prints "raw_handler_tps N"
set -eu
db=$1 c=${2:-16} s=${3:-20}
d=$(mktemp -d)
psql "$db" -q <<'SQL'
DROP TABLE IF EXISTS raw_events;
CREATE TABLE raw_events (aggregate_type text NOT NULL, aggregate_id text NOT NULL, sequence bigint NOT NULL,
  event_type text NOT NULL, event_version text NOT NULL, payload jsonb NOT NULL, metadata jsonb NOT NULL,
  global_position bigint GENERATED ALWAYS AS IDENTITY, tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (aggregate_type, aggregate_id, sequence));
CREATE INDEX ON raw_events (tx_id, global_position);
INSERT INTO raw_events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT 'Client', 'c' || a, s, 'ClientRegistered', '1.0',
  jsonb_build_object('display_name', 'Client ' || a, 'email', 'c' || a || '@example.test', 'kind', 'organisation'),
  jsonb_build_object('actor', 'token-1', 'request_id', md5(a::text || s), 'tenant', 't1')
FROM generate_series(1, 50000) a, generate_series(1, 5) s;
VACUUM ANALYZE raw_events;
SQL
cat > "$d/h.sql" <<'SQL'
\set a random(1, 50000)
BEGIN;
SELECT max(sequence) AS last FROM (SELECT sequence, payload FROM raw_events WHERE aggregate_type = 'Client' AND aggregate_id = 'c' || :a ORDER BY sequence) e \gset
INSERT INTO raw_events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
  VALUES ('Client', 'c' || :a, :last + 1, 'ClientDetailsChanged', '1.0', '{"display_name":"renamed"}', '{"actor":"token-1"}')
  ON CONFLICT DO NOTHING;
COMMIT;
SQL
if [ -n "${4:-}" ]; then
  # Each log line: client, transaction, latency in µs (from its scheduled start), ...
  pgbench "$db" -n -M prepared -f "$d/h.sql" -c "$c" -j 2 -T "$s" -R "$4" -l --log-prefix="$d/latency" >/dev/null 2>&1
  cat "$d"/latency.* | awk '{print $3}' | sort -n | awk '{a[NR] = $1; if ($1 > 10000) over++}
    END {i = int((NR - 1) * 0.99 + 0.5) + 1; printf "raw_handler_p99_ms %.1f\nraw_handler_over_10ms %.4f\n", a[i] / 1000, over / NR}'
  rm -rf "$d"
  exit 0
fi
out=$(pgbench "$db" -n -M prepared -f "$d/h.sql" -c "$c" -j 2 -T "$s" 2>&1)
rm -rf "$d"
tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
echo "raw_handler_tps $tps"
