#!/usr/bin/env bash
# Runs every test of AkkaMail on a fresh Debian machine: installs and starts RabbitMQ and PostgreSQL when they are missing
# (root is assumed for apt-get), builds once, then runs each test project in turn and prints one summary line.
set -uo pipefail
cd "$(dirname "$0")"

log() { printf '\n== %s\n' "$*"; }

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  log "Installing RabbitMQ from Debian's packages"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q rabbitmq-server || { echo "could not install rabbitmq-server"; exit 1; }
fi
if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
  log "Starting RabbitMQ"
  rabbitmq-server -detached
  # await_startup gives up at once while the Erlang node itself is still coming up, so first wait for it to answer.
  for _ in $(seq 1 120); do rabbitmq-diagnostics -q ping >/dev/null 2>&1 && break; sleep 1; done
  rabbitmqctl await_startup --timeout 120 || {
    echo "RabbitMQ did not start"; tail -n 50 /var/log/rabbitmq/*.log 2>/dev/null; exit 1; }
fi
rabbitmqctl start_app >/dev/null 2>&1 || true
# PostgreSQL: the journal and stores of AkkaMail:Store=postgres, whose tests always run. A role akkamail (password
# akkamail, allowed to create databases) on 127.0.0.1; each test creates a database of its own and drops it.
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  log "Installing PostgreSQL from Debian's packages"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql || { echo "could not install postgresql"; exit 1; }
fi
# The first cluster of whichever version Debian ships (15 on Debian 12): created if the package made none, started if down.
if [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  log "Creating a PostgreSQL $version cluster"
  pg_createcluster "$version" main || { echo "could not create a PostgreSQL cluster"; exit 1; }
fi
read -r pg_version pg_cluster pg_port pg_status _ <<<"$(pg_lsclusters -h | head -n 1)"
if [ "$pg_status" != "online" ]; then
  log "Starting PostgreSQL $pg_version/$pg_cluster"
  pg_ctlcluster "$pg_version" "$pg_cluster" start || { echo "PostgreSQL did not start"; tail -n 50 /var/log/postgresql/*.log 2>/dev/null; exit 1; }
fi
for _ in $(seq 1 60); do su postgres -c "psql -p $pg_port -tAc 'SELECT 1'" >/dev/null 2>&1 && break; sleep 1; done
su postgres -c "psql -p $pg_port -v ON_ERROR_STOP=1 -q" <<'SQL' || { echo "could not create the akkamail role"; exit 1; }
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'akkamail') THEN
    CREATE ROLE akkamail LOGIN CREATEDB PASSWORD 'akkamail';
  END IF;
END $$;
-- A test drops its database WITH (FORCE), which must also end server processes of other roles on it (autovacuum).
GRANT pg_signal_backend TO akkamail;
SQL
export AKKAMAIL_TEST_POSTGRES="${AKKAMAIL_TEST_POSTGRES:-Host=127.0.0.1;Port=$pg_port;Username=akkamail;Password=akkamail;Database=postgres}"

if [ ! -x /usr/bin/chromium ]; then
  log "Installing Chromium from Debian's packages (the dashboard's browser test drives it headless)"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || echo "could not install chromium: the browser test will be skipped"
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1  # Playwright drives Debian's chromium; it never downloads a browser

log "Building"
dotnet build AkkaMail.sln -c Release -nologo -clp:ErrorsOnly || exit 1

# One project at a time: the broker-restart tests must not pull RabbitMQ away from another project's tests.
results=$(mktemp)
status=0
for project in tests/*/*.csproj; do
  grep -q '<IsTestProject>true</IsTestProject>' "$project" || continue
  log "Testing $project"
  dotnet test "$project" -c Release --no-build --logger "console;verbosity=normal" 2>&1 | tee -a "$results"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done

passed=$(awk '/^ +Passed: +[0-9]+$/ {s+=$2} END {print s+0}' "$results")
failed=$(awk '/^ +Failed: +[0-9]+$/ {s+=$2} END {print s+0}' "$results")
skipped=$(awk '/^ +Skipped: +[0-9]+$/ {s+=$2} END {print s+0}' "$results")
# Repeat every failed test with its message at the end, so a red run says what failed without scrolling back.
if [ "$failed" -gt 0 ]; then
  echo
  echo "== Failed tests"
  awk '/^ +Failed [^ ]/ {n=120} n>0 {print; n--}' "$results"
fi
rm -f "$results"
echo
echo "Total: $passed passed, $failed failed, $skipped skipped"
if [ "$passed" -eq 0 ]; then echo "no test ran"; exit 1; fi
exit $status
